import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, invocationUrl, type InvocationResult } from './invoke.js';
import { bidiUrl } from './bidi.js';

test('invocationUrl: bare host gets /invocations, paths are kept, endpoints go through the front door', () => {
  assert.equal(invocationUrl({ url: 'http://127.0.0.1:8080' }), 'http://127.0.0.1:8080/invocations');
  assert.equal(invocationUrl({ url: 'http://127.0.0.1:8080/' }), 'http://127.0.0.1:8080/invocations');
  assert.equal(invocationUrl({ url: 'http://h:1/models/m/invoke' }), 'http://h:1/models/m/invoke');
  assert.equal(invocationUrl({ url: 'http://h:1/', endpoint: 'my-ep' }), 'http://h:1/endpoints/my-ep/invocations');
  // A front door's path prefix, query or fragment: the endpoint's path goes on its path.
  assert.equal(invocationUrl({ url: 'http://h:1/prefix/', endpoint: 'my-ep' }), 'http://h:1/prefix/endpoints/my-ep/invocations');
  assert.equal(invocationUrl({ url: 'http://h:1/?x=1', endpoint: 'my-ep' }), 'http://h:1/endpoints/my-ep/invocations?x=1');
  assert.equal(invocationUrl({ url: 'http://h:1#top', endpoint: 'my-ep' }), 'http://h:1/endpoints/my-ep/invocations');
  assert.throws(() => invocationUrl({ url: 'http://h:1', endpoint: '../x' }), /--endpoint="\.\.\/x" is invalid: expected an endpoint name: 1 to 63 letters, digits and hyphens/);
  assert.throws(() => invocationUrl({ url: 'not a url' }), /is not a URL/);
  // A scheme left out (localhost:8080 parses with the scheme "localhost:") or not HTTP is named, not sent.
  const usage = (message: string) => ({ code: 'ERR_CLI_USAGE', message });
  assert.throws(() => invocationUrl({ url: 'localhost:8080' }), usage('localhost:8080 is not an http:// or https:// URL; expected e.g. http://localhost:8080'));
  assert.throws(() => invocationUrl({ url: '127.0.0.1:8080/invocations' }), usage('127.0.0.1:8080/invocations is not a URL; expected e.g. http://127.0.0.1:8080/invocations'));
  assert.throws(() => invocationUrl({ url: 'ftp://h/x' }), usage('ftp://h/x is not an http:// or https:// URL; expected e.g. http://127.0.0.1:8080/invocations'));
  assert.throws(() => invocationUrl({ url: 'localhost:8090', endpoint: 'iris' }), usage('--front-door="localhost:8090" is invalid: expected an http:// or https:// URL such as http://localhost:8090.'));
  assert.throws(() => bidiUrl('localhost:8080'), usage('--bidi needs an http:// or ws:// URL, not localhost:8080; expected e.g. http://localhost:8080'));
  assert.throws(() => bidiUrl('not a url'), usage('--bidi needs an http:// or ws:// URL, not not a url; expected e.g. http://127.0.0.1:8080'));
  assert.equal(bidiUrl('http://h:1').toString(), 'ws://h:1/invocations-bidirectional-stream');
});

test('invocationUrl: a URL with a user name or password is ERR_CLI_USAGE without the password, not "could not reach ...: Is the server running?" (fetch refuses one)', () => {
  const usage = (message: string) => ({ code: 'ERR_CLI_USAGE', message });
  assert.throws(
    () => invocationUrl({ url: 'http://me:s3cret@127.0.0.1:8080' }),
    usage('http://me:***@127.0.0.1:8080/ has a user name and password in it; expected a URL without a user name or password (smkit invoke sends no credentials: a SageMaker container takes none), such as http://127.0.0.1:8080/'),
  );
  assert.throws(() => invocationUrl({ url: 'https://me@h:1/x' }), usage('https://me@h:1/x has a user name in it; expected a URL without a user name or password (smkit invoke sends no credentials: a SageMaker container takes none), such as https://h:1/x'));
  assert.throws(
    () => invocationUrl({ url: 'http://me:s3cret@h:1', endpoint: 'iris' }),
    usage('--front-door="http://me:***@h:1/" is invalid: expected a URL without a user name or password (smkit invoke sends no credentials: a SageMaker container takes none), such as http://h:1/.'),
  );
  // Not http either: the password is not shown there.
  assert.throws(() => invocationUrl({ url: 'ftp://me:s3cret@h/' }), usage('ftp://me:***@h/ is not an http:// or https:// URL; expected e.g. http://127.0.0.1:8080/invocations'));
  assert.throws(() => invocationUrl({ url: 'ftp://me:s3cret@h/', endpoint: 'iris' }), usage('--front-door="ftp://me:***@h/" is invalid: expected an http:// or https:// URL such as http://127.0.0.1:8080.'));
  assert.throws(() => bidiUrl('ftp://me:s3cret@h/'), usage('--bidi needs an http:// or ws:// URL, not ftp://me:***@h/; expected e.g. http://127.0.0.1:8080'));
  // Without a scheme, me:s3cret@h:80 parses as scheme "me:" with no password, and was shown whole.
  assert.throws(() => invocationUrl({ url: 'me:s3cret@h:80' }), usage('me:***@h:80 is not an http:// or https:// URL; expected e.g. http://127.0.0.1:8080/invocations'));
  assert.throws(() => invocationUrl({ url: '//me:s3cret@h:80/x' }), usage('//me:***@h:80/x is not a URL; expected e.g. http://127.0.0.1:8080/invocations'));
  assert.throws(() => invocationUrl({ url: 'me:s3cret@h:80', endpoint: 'iris' }), usage('--front-door="me:***@h:80" is invalid: expected an http:// or https:// URL such as http://127.0.0.1:8080.'));
  assert.throws(() => bidiUrl('me:s3cret@h:80'), usage('--bidi needs an http:// or ws:// URL, not me:***@h:80; expected e.g. http://127.0.0.1:8080'));
  // --bidi too: ws sent the pair as Basic auth where the other URLs were refused.
  assert.throws(() => bidiUrl('http://me:s3cret@h:1'), usage('http://me:***@h:1/ has a user name and password in it; expected a URL without a user name or password (smkit invoke sends no credentials: a SageMaker container takes none), such as http://h:1/'));
  assert.throws(() => bidiUrl('wss://me@h:1/x'), usage('wss://me@h:1/x has a user name in it; expected a URL without a user name or password (smkit invoke sends no credentials: a SageMaker container takes none), such as wss://h:1/x'));
});

function result(status: number, body: string, headers: Record<string, string> = {}): InvocationResult {
  return { url: 'u', status, statusText: 'X', headers: new Headers(headers), body: Buffer.from(body) };
}

test('describeError: smkit errors, front-door model errors, plain text', () => {
  assert.equal(describeError(result(415, '{"code":"ERR_UNSUPPORTED_MEDIA_TYPE","message":"no codec"}')), 'HTTP 415 X: ERR_UNSUPPORTED_MEDIA_TYPE | no codec');
  const modelError = describeError(
    result(424, JSON.stringify({ OriginalStatusCode: 500, OriginalMessage: 'boom', LogStreamArn: '/l.log', message: 'Received server error (500)' }), { 'x-amzn-errortype': 'ModelError:http://x/' }),
  );
  assert.equal(modelError, 'HTTP 424 X (ModelError): Received server error (500) | container answered 500: boom | log: /l.log');
  assert.equal(describeError(result(502, 'bad gateway')), 'HTTP 502 X: bad gateway');
});
