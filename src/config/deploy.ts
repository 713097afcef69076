import { homedir } from 'node:os';
import { join } from 'node:path';
import { isRegionName, REGION_NAME_EXPECTED } from '../aws/partition.js';
import { urlWithoutPassword } from './flag-values.js';
import { invalid } from './settings.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * What `smkit deploy` reads from the environment, validated and frozen. The AWS SDK clients read
 * their usual variables themselves (credentials, `AWS_PROFILE`); these are the ones deploy itself
 * must see to choose client options.
 */
export interface DeployEnvironment {
  /** `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: a non-AWS S3 (path-style addressing is then used). */
  readonly s3EndpointUrl?: string;
  /** `AWS_REGION`, else `AWS_DEFAULT_REGION`. */
  readonly region?: string;
  /** True when `AWS_ACCESS_KEY_ID` or `AWS_PROFILE` is set (else a loopback `--endpoint-url` gets placeholder credentials). */
  readonly hasCredentials: boolean;
  /**
   * `AWS_PROFILE` and the shared files the AWS SDK reads profiles from (`AWS_CONFIG_FILE`, else
   * `~/.aws/config`; `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`).
   */
  readonly profile?: { readonly name: string; readonly configFile: string; readonly credentialsFile: string };
  /** The proxies of `HTTPS_PROXY`/`HTTP_PROXY` (else `ALL_PROXY`), when one is set; `NO_PROXY` is read per request. */
  readonly proxy?: ProxySettings;
}

/** The proxy URL for https:// and for http:// requests, as `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` (first set) and the same for http. */
export interface ProxySettings {
  readonly https?: string;
  readonly http?: string;
  /** `no_proxy`, else `NO_PROXY`: the hosts that go direct ({@link ../deploy/proxy.js!bypassesProxy}). */
  readonly noProxy?: string;
}

/** A proxy URL as an error may show it: any user name and password replaced by `***`. */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/**
 * One protocol's proxy: the first of its variables set, lower case first (as curl and
 * the AWS CLI read them). A value with no scheme (`proxy.corp:3128`) is an http:// proxy, as curl
 * and the AWS CLI take it; one that is no http(s) URL is refused naming the variable (deploy speaks
 * no SOCKS), where it failed each call with a connection error.
 */
function proxyFor(env: Env, protocol: 'https' | 'http'): string | undefined {
  for (const name of [`${protocol}_proxy`, `${protocol.toUpperCase()}_PROXY`, 'all_proxy', 'ALL_PROXY']) {
    const raw = str(env, name);
    if (raw === undefined) continue;
    const value = raw.includes('://') ? raw : `http://${raw}`;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // named below
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw invalid(name, withoutCredentials(raw), 'the URL of an HTTP proxy such as http://proxy.example.com:3128 (http:// or https://; SOCKS is not supported)');
    }
    // Its user name and password are percent-decoded for the Proxy-Authorization header: a % not
    // followed by two hex digits failed every call with a bare "URIError: URI malformed".
    try {
      decodeURIComponent(url.username);
      decodeURIComponent(url.password);
    } catch {
      throw invalid(name, withoutCredentials(raw), 'a proxy URL whose user name and password write % as %25 (with @ and : in them written %40 and %3A), such as http://alice:p%25ss@proxy.example.com:3128');
    }
    return value;
  }
  return undefined;
}

/** `{ profile }` when `AWS_PROFILE` is set: its name and the shared files the AWS SDK reads it from; else nothing. */
export function awsProfile(env: Env): { profile?: { readonly name: string; readonly configFile: string; readonly credentialsFile: string } } {
  if (str(env, 'AWS_PROFILE') === undefined) return {};
  return {
    profile: Object.freeze({
      // The SDK takes the name as it is (no trimming): a profile "dev " is not "dev".
      name: env.AWS_PROFILE!,
      configFile: sharedFile(env.AWS_CONFIG_FILE, 'config'),
      credentialsFile: sharedFile(env.AWS_SHARED_CREDENTIALS_FILE, 'credentials'),
    }),
  };
}

/** A shared-file path as the AWS SDK takes it: unset is `~/.aws/<name>`, and a leading `~/` is the home folder. */
function sharedFile(value: string | undefined, name: string): string {
  if (value === undefined || value === '') return join(homedir(), '.aws', name);
  return value.startsWith('~/') ? join(homedir(), value.slice(2)) : value;
}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function checkUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw invalid(name, urlWithoutPassword(value), 'an http:// or https:// URL such as http://127.0.0.1:4569');
  }
  return value;
}

/**
 * The endpoint variables the AWS SDK clients of deploy read for themselves (the general one and
 * each service's, `AWS_ENDPOINT_URL_<service id>`): a bad one failed the first call of its client
 * as `TypeError: Invalid URL` or a DNS error, naming no variable.
 */
const SDK_ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_ECR', 'AWS_ENDPOINT_URL_S3'] as const;
/** Those of the clients `--endpoint-url` is given to: a client given an endpoint reads none of them (nor `AWS_ENDPOINT_URL`). */
const API_ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL_SAGEMAKER', 'AWS_ENDPOINT_URL_CLOUDWATCH', 'AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING'] as const;

/**
 * Reads the deploy environment. Throws `ERR_CONFIG_INVALID` naming the variable on a bad URL.
 * `apiEndpointGiven` (`--endpoint-url`): the SageMaker, CloudWatch and Application Auto Scaling
 * clients are given that endpoint, so their own variables are not read and not checked.
 * `regionGiven` (`--region` or `deploy.region`): `AWS_REGION` and `AWS_DEFAULT_REGION` are not read and not checked.
 */
export function loadDeployEnvironment(env: Env = process.env, apiEndpointGiven = false, regionGiven = false): Readonly<DeployEnvironment> {
  // The SDK ignores them all with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true; smkit's own S3 endpoint below is still read.
  // The SDK takes only 'true' or 'false' (exactly), and fails a client's first call on anything else.
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  if (ignore !== undefined && ignore !== 'true' && ignore !== 'false') throw invalid('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', ignore, 'true or false (as the AWS SDK reads it: lower case)');
  if (ignore !== 'true') for (const name of [...SDK_ENDPOINT_VARIABLES, ...(apiEndpointGiven ? [] : API_ENDPOINT_VARIABLES)]) checkUrl(name, str(env, name));
  const s3 = str(env, 'AWS_ENDPOINT_URL_S3') !== undefined
    ? checkUrl('AWS_ENDPOINT_URL_S3', str(env, 'AWS_ENDPOINT_URL_S3'))
    : checkUrl('AWS_ENDPOINT_URL', str(env, 'AWS_ENDPOINT_URL'));
  const regionVariable = str(env, 'AWS_REGION') !== undefined ? 'AWS_REGION' : 'AWS_DEFAULT_REGION';
  // --region or deploy.region wins and the SDK reads neither variable then (nor does the AWS CLI
  // with --region): one it would not use must not stop the deploy.
  const region = regionGiven ? undefined : str(env, regionVariable);
  // The SDK would take US-EAST-1 and every call's signature would then be refused, after packaging.
  if (region !== undefined && !isRegionName(region)) throw invalid(regionVariable, region, REGION_NAME_EXPECTED);
  const httpsProxy = proxyFor(env, 'https');
  const httpProxy = proxyFor(env, 'http');
  const noProxy = str(env, 'no_proxy') ?? str(env, 'NO_PROXY');
  return Object.freeze({
    ...(httpsProxy !== undefined || httpProxy !== undefined
      ? { proxy: Object.freeze({ ...(httpsProxy !== undefined ? { https: httpsProxy } : {}), ...(httpProxy !== undefined ? { http: httpProxy } : {}), ...(noProxy !== undefined ? { noProxy } : {}) }) }
      : {}),
    ...(s3 !== undefined ? { s3EndpointUrl: s3 } : {}),
    ...(region !== undefined ? { region } : {}),
    hasCredentials: str(env, 'AWS_ACCESS_KEY_ID') !== undefined || str(env, 'AWS_PROFILE') !== undefined,
    ...awsProfile(env),
  });
}
