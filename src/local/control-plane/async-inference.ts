import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AsyncInferenceConfig } from '../../aws/shapes/sagemaker.js';
import type { InvokeEndpointRequest, InvokeEndpointResponse } from '../endpoint/chain.js';
import type { EndpointLog } from '../endpoint/local-endpoint.js';
import { parseS3Url, type S3Objects } from '../s3/objects.js';

/** One `InvokeEndpointAsync` request, as the front door read it. */
export interface AsyncInvocationRequest {
  /** Content type, accept and SageMaker headers for the container (the body is read later). */
  invocation: Omit<InvokeEndpointRequest, 'body'>;
  /** `InputLocation`: where the payload is; exactly one of this and `body`. */
  inputLocation?: string;
  /** `Body`: the payload given inline. */
  body?: Buffer;
  /** `InferenceId`; generated when not given. */
  inferenceId?: string;
  /** `S3OutputPathExtension`: appended to the output (and failure) path. */
  outputPathExtension?: string;
  /** `Filename` of the result. */
  filename?: string;
}

/** What `InvokeEndpointAsync` answers (202) once the request is queued. */
export interface AsyncInvocationAccepted {
  inferenceId: string;
  outputLocation: string;
  failureLocation?: string;
}

/** The endpoint is not asynchronous: its endpoint config has no `AsyncInferenceConfig`. */
export class AsyncInferenceNotConfiguredError extends Error {
  constructor(readonly endpoint: string) {
    super(`Endpoint ${endpoint} is not an asynchronous endpoint: its endpoint configuration has no AsyncInferenceConfig. Use InvokeEndpoint, or create the endpoint from a configuration with AsyncInferenceConfig.`);
    this.name = 'AsyncInferenceNotConfiguredError';
  }
}

/** `base/extension/name`, for an `s3://` URI or a local folder alike. */
function locate(base: string, extension: string | undefined, name: string): string {
  const parts = [base.replace(/\/+$/, ''), ...(extension ? [extension.replace(/^\/+|\/+$/g, '')] : []), name];
  return parts.filter((p) => p !== '').join('/');
}

function localPath(location: string): string {
  return location.startsWith('file://') ? fileURLToPath(location) : location;
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** What an asynchronous invocation needs of its surroundings. */
export interface AsyncInvocationContext {
  config: AsyncInferenceConfig;
  s3: () => S3Objects;
  /** Runs the invocation on the endpoint (routing, capture and metrics as for `InvokeEndpoint`). */
  invoke: (req: InvokeEndpointRequest) => Promise<{ variant: string; response: InvokeEndpointResponse }>;
  log?: EndpointLog;
}

async function readInput(location: string, s3: () => S3Objects): Promise<Buffer> {
  const s3Url = parseS3Url(location);
  if (!s3Url) throw new Error(`InputLocation ${location} is not an s3:// URI; the local SageMaker reads input from S3 (or take the payload inline as Body).`);
  try {
    return await readAll(await s3().get(s3Url.bucket, s3Url.key));
  } catch (err) {
    throw new Error(`Reading InputLocation ${location} failed: ${(err as Error).message}`, { cause: err });
  }
}

async function writeResult(location: string, body: Buffer, s3: () => S3Objects): Promise<void> {
  const s3Url = parseS3Url(location);
  if (s3Url) return s3().put(s3Url.bucket, s3Url.key, body);
  const path = localPath(location);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, body);
}

/**
 * Queues one asynchronous invocation and answers at once where its result will be: the input is
 * read (from `InputLocation` or the inline `Body`), the endpoint invoked, and the container's
 * answer written to `<S3OutputPath>[/<extension>]/<Filename or id>.out`; a failure writes its
 * message to `<S3FailurePath>[/<extension>]/<id>-error.out` when the config names a failure path
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html). `s3://` locations go
 * through S3; any other is a local path.
 */
export function startAsyncInvocation(ctx: AsyncInvocationContext, req: AsyncInvocationRequest): AsyncInvocationAccepted {
  const output = ctx.config.OutputConfig;
  const id = randomUUID();
  const inferenceId = req.inferenceId ?? id;
  const outputLocation = locate(output.S3OutputPath!, req.outputPathExtension, req.filename ?? `${id}.out`);
  const failureLocation = output.S3FailurePath === undefined ? undefined : locate(output.S3FailurePath, req.outputPathExtension, `${id}-error.out`);
  void (async () => {
    try {
      const body = req.inputLocation === undefined ? (req.body ?? Buffer.alloc(0)) : await readInput(req.inputLocation, ctx.s3);
      const { response } = await ctx.invoke({ ...req.invocation, body });
      await writeResult(outputLocation, response.body, ctx.s3);
    } catch (err) {
      const message = (err as Error).message;
      ctx.log?.('warn', 'asynchronous invocation failed', { inferenceId, failureLocation: failureLocation ?? null, message });
      if (failureLocation === undefined) return;
      await writeResult(failureLocation, Buffer.from(message), ctx.s3).catch((writeErr: Error) =>
        ctx.log?.('warn', 'writing the failure of an asynchronous invocation failed', { inferenceId, failureLocation, message: writeErr.message }),
      );
    }
  })();
  return { inferenceId, outputLocation, ...(failureLocation === undefined ? {} : { failureLocation }) };
}
