import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parseEndpointFile } from '../../src/endpoint-file/schema.js';
import { objectExists, parseS3Prefix, prepareArtifacts, uploadFile } from '../../src/deploy/artifacts.js';
import { whileInterruptible } from '../../src/deploy/interrupt.js';
import { isToolkitError } from '../../src/errors/catalogue.js';
import { startLocalS3, type LocalS3 } from '../helpers/local-s3.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let s3server: LocalS3;
before(async () => {
  s3server = await startLocalS3(['artifacts']);
});
after(() => s3server.stop());

test('artifacts: content-hash keys from smkit package archives, multi-model prefixes, HEAD before upload, multipart upload to a real local S3', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-artifacts-'));
  const s3 = new S3Client({ endpoint: s3server.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  try {
    await cp(path.join(repo, 'models/iris-onnx'), path.join(dir, 'iris'), { recursive: true });
    await mkdir(path.join(dir, 'mme', 'v2'), { recursive: true });
    await writeFile(path.join(dir, 'mme', 'a.tar.gz'), Buffer.alloc(300_000, 7));
    await writeFile(path.join(dir, 'mme', 'v2', 'b.tar.gz'), Buffer.from('b'));
    const cfg = parseEndpointFile(
      { endpoints: [{ name: 'e', variants: [{ name: 'A', model: 'iris' }, { name: 'B', model: 'iris' }, { name: 'M', model: 'mme', mode: 'MultiModel' }] }] },
      (p) => path.join(dir, p),
      () => Buffer.alloc(0),
    );
    const work = path.join(dir, 'work');
    await mkdir(work);
    const lines: string[] = [];
    const artifacts = await prepareArtifacts(cfg.endpoints, 's3://artifacts/deploy/', work, (l) => lines.push(l));
    assert.equal(artifacts.size, 2, 'one entry per distinct model path');
    const iris = artifacts.get(path.join(dir, 'iris'))!;
    const archive = await readFile(iris.files[0]!.file);
    assert.equal(iris.key, `deploy/${createHash('sha256').update(archive).digest('hex')}/model.tar.gz`);
    const again = await prepareArtifacts(cfg.endpoints, 's3://artifacts/deploy/', work, () => undefined);
    assert.equal(again.get(path.join(dir, 'iris'))!.key, iris.key, 'packaging is deterministic: the same folder gives the same key');
    const mme = artifacts.get(path.join(dir, 'mme'))!;
    assert.match(mme.uri, /^s3:\/\/artifacts\/deploy\/mme-[0-9a-f]{64}\/$/);
    assert.deepEqual(mme.files.map((f) => f.key.slice(mme.key.length)), ['a.tar.gz', 'v2/b.tar.gz']);

    assert.equal(await objectExists(s3, 'artifacts', iris.key), false);
    await uploadFile(s3, 'artifacts', iris.files[0]!, (l) => lines.push(l));
    assert.equal(await objectExists(s3, 'artifacts', iris.key), true);
    const big = mme.files[0]!;
    const progress: string[] = [];
    await uploadFile(s3, 'artifacts', big, (l) => progress.push(l), 100_000);
    assert.ok(progress.some((l) => /uploading .*a\.tar\.gz: .* \(100%\)/.test(l)), progress.join('\n'));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'artifacts', Key: big.key }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.alloc(300_000, 7), 'the parts reassemble the file');
    assert.deepEqual(parseS3Prefix('s3://b'), { bucket: 'b', prefix: '' });
    assert.deepEqual(parseS3Prefix('s3://b/p'), { bucket: 'b', prefix: 'p/' });
  } finally {
    s3.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C during a multipart upload aborts it (AbortMultipartUpload with its UploadId), completes nothing, and says what is left', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-artifacts-'));
  const s3 = new S3Client({ endpoint: s3server.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const sent: { command: string; input: { UploadId?: string } }[] = [];
  // The interrupt lands while a part is on its way: SIGINT as the process gets it, from the part's request.
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ command: context.commandName ?? '?', input: args.input as { UploadId?: string } });
      if (context.commandName === 'UploadPartCommand') process.emit('SIGINT', 'SIGINT');
      return next(args);
    },
    { step: 'initialize' },
  );
  const others = process.rawListeners('SIGINT') as ((...args: unknown[]) => void)[];
  process.removeAllListeners('SIGINT');
  try {
    const file = path.join(dir, 'model.tar.gz');
    await writeFile(file, Buffer.alloc(300_000, 7));
    const archive = { file, bytes: 300_000, sha256: 'f'.repeat(64), key: 'deploy/f/model.tar.gz' };
    let message = '';
    await assert.rejects(whileInterruptible((signal) => uploadFile(s3, 'artifacts', archive, () => undefined, 100_000, signal)), (err: unknown) => {
      message = (err as Error).message;
      return isToolkitError(err) && err.code === 'ERR_DEPLOY_FAILED';
    });
    assert.equal(process.listenerCount('SIGINT'), 0, 'the handler is gone once the upload has ended');
    assert.deepEqual(sent.map((s) => s.command), ['CreateMultipartUploadCommand', 'UploadPartCommand', 'AbortMultipartUploadCommand']);
    const uploadId = sent[1]!.input.UploadId!;
    assert.ok(uploadId);
    assert.equal(sent[2]!.input.UploadId, uploadId, 'the upload that was started is the one aborted');
    assert.equal(await objectExists(s3, 'artifacts', archive.key), false);
    // s3rver (3.7) implements neither AbortMultipartUpload (405) nor ListMultipartUploads, so here the
    // abort is refused: the message then says how to remove the parts (on AWS the abort succeeds).
    assert.match(message, /^S3 multipart upload s3:\/\/artifacts\/deploy\/f\/model\.tar\.gz stopped: interrupted by SIGINT; its parts stay in S3 until the upload is aborted \(AbortMultipartUpload failed: MethodNotAllowed: .*\): aws s3api abort-multipart-upload --bucket artifacts --key deploy\/f\/model\.tar\.gz --upload-id (\S+)$/);
    assert.ok(message.endsWith(` --upload-id ${uploadId}`));
  } finally {
    for (const l of others) process.on('SIGINT', l);
    s3.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file that changes after deploy hashed it (rewritten, cut short, grown) is not stored under its content-hash key: a later deploy would find the key and never upload the right bytes', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'smkit-artifacts-'));
  const s3 = new S3Client({ endpoint: s3server.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  try {
    const file = path.join(dir, 'model.tar.gz');
    const original = Buffer.alloc(300_000, 7);
    const sha256 = createHash('sha256').update(original).digest('hex');
    const cases = [
      { name: 'rewritten, same size, one PutObject', now: Buffer.alloc(300_000, 8), threshold: undefined, says: /its sha256 is now [0-9a-f]{12}…, not / },
      { name: 'cut short, multipart', now: original.subarray(0, 150_000), threshold: 100_000, says: /it is now 150000 bytes where it had 300000/ },
      { name: 'grown, multipart', now: Buffer.concat([original, Buffer.from('x')]), threshold: 100_000, says: /it is now longer than the 300000 bytes it had/ },
    ];
    for (const c of cases) {
      const archive = { file, bytes: original.length, sha256, key: `deploy/${sha256}/${c.threshold ?? 'put'}-${c.now.length}/model.tar.gz` };
      await writeFile(file, c.now);
      await assert.rejects(uploadFile(s3, 'artifacts', archive, () => undefined, c.threshold), (err: unknown) => {
        assert.ok(isToolkitError(err) && err.code === 'ERR_DEPLOY_FAILED', String(err));
        assert.ok(err.message.startsWith(`${file} changed after deploy hashed it for its key ${archive.key} (`), `${c.name}: ${err.message}`);
        assert.match(err.message, c.says, c.name);
        return true;
      });
      assert.equal(await objectExists(s3, 'artifacts', archive.key), false, c.name);
    }
    await writeFile(file, original);
    const archive = { file, bytes: original.length, sha256, key: `deploy/${sha256}/model.tar.gz` };
    await uploadFile(s3, 'artifacts', archive, () => undefined, 100_000);
    assert.equal(await objectExists(s3, 'artifacts', archive.key), true, 'the file as hashed goes up');
  } finally {
    s3.destroy();
    await rm(dir, { recursive: true, force: true });
  }
});
