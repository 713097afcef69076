// The front door's side of a multi-model endpoint against a container over real HTTP (only the
// model server is replaced): caching disabled, unloading least recently used models on a 507 (of a
// load or of an invocation), and a model copy that a failed extraction cannot leave half made.
import { after, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsPromises, readdirSync, readFileSync, statSync, type StatsFs } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import request from 'supertest';
import { InvokeEndpointCommand, SageMakerRuntimeClient, type ModelError } from '@aws-sdk/client-sagemaker-runtime';
import { localClientConfig } from '../../../test/helpers/local-sdk-clients.js';
import { craftTarGz } from '../../../test/fixtures/archive/craft.js';
import { createFrontDoor } from '../front-door/app.js';
import { createFrontDoorServer, listenFrontDoor } from '../front-door/http-server.js';
import { multiModelHost, type MultiModelHost } from './container.js';
import { LocalEndpoint } from './local-endpoint.js';
import { answeredStrayPing } from '../../../test/helpers/stray-ping.js';

const servers: Server[] = [];
const dirs: string[] = [];
const clients: SageMakerRuntimeClient[] = [];
describe('local multi-model endpoint', () => {
  after(async () => {
    for (const c of clients) c.destroy();
    for (const s of servers) s.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /**
   * How the container's models behave. Set, `notFound` makes a loaded model answer its invocations 404
   * itself (as a model may for an id it does not know); loads started while `holdLoads` is set wait
   * for it; with more than `oomAbove` models loaded an invocation answers 507 (a GPU out of memory),
   * and with `dropOnOom` the container unloads that model as it answers (smkit serve does so for a
   * model whose inference thread ran out of its heap).
   */
  interface ContainerModel {
    notFound: boolean;
    /** The calls (`<method> <path>`) it answers with a 500 that breaks off part-way (the connection closed before the rest). */
    cut?: (call: string) => boolean;
    /** The calls it answers by closing the connection, with no answer at all. */
    reset?: (call: string) => boolean;
    holdLoads?: Promise<void>;
    oomAbove?: number;
    dropOnOom?: boolean;
    /** Loads of a folder without a model.onnx at its top fail with a 500, as smkit serve's do ("no model found"). */
    needsTopModel?: boolean;
  }

  /**
   * A multi-model container holding at most `capacity` models (507 past it), that records the calls
   * it gets and, for each load, the files it finds at the `url`. Its loads wait for `holdLoads`, its
   * first invocation for `holdInvokes`.
   */
  async function mmeContainer(
    capacity: number,
    holdLoads?: Promise<void>,
    holdInvokes?: Promise<void>,
  ): Promise<{ url: string; calls: string[]; loaded: Map<string, string>; filesAtLoad: Record<string, string>[]; model: ContainerModel; server: Server }> {
    const calls: string[] = [];
    const model: ContainerModel = { notFound: false };
    const loaded = new Map<string, string>();
    const filesAtLoad: Record<string, string>[] = [];
    let invokes = 0;
    const server = createServer((req, res) => {
      if (answeredStrayPing(req, res)) return;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        calls.push(`${req.method} ${req.url}`);
        if (model.cut?.(`${req.method} ${req.url}`)) {
          res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '100' }).write('the model server failed: ');
          return void res.socket?.end();
        }
        if (model.reset?.(`${req.method} ${req.url}`)) return void req.socket.destroy();
        if (req.url === '/models') await Promise.all([holdLoads, model.holdLoads]);
        if (req.url?.endsWith('/invoke') && holdInvokes && invokes++ === 0) await holdInvokes;
        const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        const one = /^\/models\/([^/]+)(\/invoke)?$/.exec(req.url ?? '');
        if (req.method === 'POST' && req.url === '/models') {
          const { model_name: name, url } = JSON.parse(Buffer.concat(chunks).toString()) as { model_name: string; url: string };
          if (loaded.has(name)) return json(409, { code: 409, message: 'already loaded' });
          if (loaded.size >= capacity) return json(507, { code: 507, message: 'Memory exhausted' });
          if (model.needsTopModel && !existsSync(join(url, 'model.onnx'))) return json(500, { code: 'ERR_MODEL_LOAD', message: `no model found in ${url}` });
          filesAtLoad.push(Object.fromEntries(readdirSync(url).map((f) => [f, readFileSync(join(url, f), 'utf8')])));
          loaded.set(name, url);
          return json(200, { status: `Model "${name}" registered` });
        }
        if (one && req.method === 'DELETE' && !one[2]) return loaded.delete(one[1]!) ? json(200, { status: 'unloaded' }) : json(404, { code: 404 });
        if (one && req.method === 'POST' && one[2]) {
          if (!loaded.has(one[1]!)) return json(404, { code: 404, type: 'ModelNotFoundException', message: `Model not found: ${one[1]}` });
          if (model.oomAbove !== undefined && loaded.size > model.oomAbove) {
            if (model.dropOnOom) loaded.delete(one[1]!);
            return json(507, { code: 507, message: 'CUDA out of memory' });
          }
          return model.notFound ? json(404, { message: 'no such customer' }) : json(200, { model: one[1] });
        }
        json(404, { code: 404 });
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, loaded, filesAtLoad, model, server };
  }

  /** A front door for one multi-model endpoint whose model folder holds `models` (name → archive entries). */
  async function mmeEndpoint(capacity: number, models: Record<string, { path: string; body: string }[]>, cacheModels = true, opts: { holdLoads?: Promise<void>; holdInvokes?: Promise<void>; timeoutMs?: number } = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'smkit-mme-'));
    dirs.push(dir);
    await mkdir(join(dir, 'source'));
    for (const [name, entries] of Object.entries(models)) await writeFile(join(dir, 'source', name), craftTarGz(entries));
    const container = await mmeContainer(capacity, opts.holdLoads, opts.holdInvokes);
    const host = multiModelHost({ source: join(dir, 'source'), hostDir: join(dir, 'models'), containerDir: join(dir, 'models') }, cacheModels);
    const ep = new LocalEndpoint('mme', [{ name: 'AllTraffic', weight: 1, containers: [{ hostname: 'primary', url: container.url, logFile: join(dir, 'primary.log'), multiModel: host }] }], opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
    const door = createFrontDoor({ endpoints: new Map([['mme', ep]]) });
    const invoke = (target: string | undefined) => {
      const req = request(door).post('/endpoints/mme/invocations');
      return (target === undefined ? req : req.set('X-Amzn-SageMaker-Target-Model', target)).send('x');
    };
    return { dir, host, container, invoke, endpoint: ep };
  }

  /** The container's model name for `target` (what the front door loaded it as). */
  function nameOf(host: MultiModelHost, target: string): Promise<string> {
    return host.loads.get(target)!;
  }

  const MODEL = [{ path: 'model.onnx', body: 'weights' }];

  test('an invocation without TargetModel is a ValidationError that opens with the service\'s words, naming the request ("Request <id> is missing a target model header"), and says what to send', async () => {
    const { container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    const res = await invoke(undefined);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
    assert.equal(res.body.Message, `Request ${res.headers['x-amzn-requestid']} is missing a target model header. This is a multi-model endpoint: send TargetModel (the X-Amzn-SageMaker-Target-Model header of InvokeEndpoint; InvokeEndpointWithResponseStream has none) naming the model archive, for example model-a.tar.gz.`);
    assert.deepEqual(container.calls, []);
  });

  test('ModelCacheSetting Disabled: after each invocation the model is unloaded (DELETE /models/<name>) and its copy deleted; the next invocation loads it again', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL }, false);
    for (let i = 1; i <= 2; i++) {
      const res = await invoke('a.tar.gz');
      assert.equal(res.status, 200, res.text);
      const name = (res.body as { model: string }).model;
      await host.unloading.get('a.tar.gz');
      assert.deepEqual(container.calls, Array.from({ length: i }, () => ['POST /models', `POST /models/${name}/invoke`, `DELETE /models/${name}`]).flat());
      assert.equal(container.loaded.size, 0);
      assert.equal(existsSync(join(host.hostDir, name)), false, 'the extracted copy is deleted');
      assert.equal(host.loads.size + host.inUse.size + host.recent.size, 0);
    }
  });

  test('a 507 from POST /models unloads the least recently invoked idle model (its copy kept on disk) and loads again; with nothing left to unload the invocation is a ModelError carrying the 507', async () => {
    const { host, container, invoke } = await mmeEndpoint(2, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL, 'c.tar.gz': MODEL });
    for (const t of ['a.tar.gz', 'b.tar.gz', 'a.tar.gz']) assert.equal((await invoke(t)).status, 200);
    const [a, b] = [await nameOf(host, 'a.tar.gz'), await nameOf(host, 'b.tar.gz')];
    const res = await invoke('c.tar.gz');
    assert.equal(res.status, 200, res.text);
    const c = await nameOf(host, 'c.tar.gz');
    // b was invoked longest ago: it goes, a stays.
    assert.deepEqual(container.calls.slice(-4), ['POST /models', `DELETE /models/${b}`, 'POST /models', `POST /models/${c}/invoke`]);
    assert.deepEqual([...container.loaded.keys()].sort(), [a, c].sort());
    assert.ok(existsSync(join(host.hostDir, b, 'model', 'model.onnx')), 'a model unloaded for memory stays on disk');
    assert.equal(host.loads.has('b.tar.gz'), false);

    const full = await mmeEndpoint(0, { 'a.tar.gz': MODEL });
    const refused = await full.invoke('a.tar.gz');
    assert.equal(refused.status, 424, refused.text);
    assert.equal(refused.headers['x-amzn-errortype'], 'ModelError');
    assert.equal(refused.body.OriginalStatusCode, 507);
    assert.match(refused.body.OriginalMessage, /Memory exhausted.*loading a\.tar\.gz: no other model was loaded and idle to unload; give the container more memory/);
    assert.deepEqual(full.container.calls, ['POST /models'], 'tried once: nothing to unload');
  });

  /**
   * Makes the folder `dir` a disk of `bytes` (as statfs reports it to the extraction's free-space
   * check: `bytes` less the files under `dir`) until the returned function is called.
   */
  function smallDisk(dir: string, bytes: number): () => void {
    const statfs = fsPromises.statfs.bind(fsPromises);
    const used = () => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((sum, e) => sum + statSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).size, 0);
    const fake = mock.method(fsPromises, 'statfs', async (at: string) => {
      if (!String(at).startsWith(dir)) return statfs(at);
      return { ...(await statfs(dir)), blocks: bytes, bsize: 1, bavail: Math.max(0, bytes - used()) } satisfies StatsFs;
    });
    return () => fake.mock.restore();
  }

  const KB = [{ path: 'model.onnx', body: 'w'.repeat(1000) }];

  test('a model whose files do not fit in the disk space free gets the least recently invoked idle model unloaded and its copy deleted, as the service deletes unused models when its storage volume is full; that model loads anew when invoked again', async () => {
    const { dir, host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': KB, 'b.tar.gz': KB, 'c.tar.gz': KB });
    const restore = smallDisk(dir, 2500);
    try {
      for (const t of ['a.tar.gz', 'b.tar.gz']) assert.equal((await invoke(t)).status, 200);
      const [a, b] = [await nameOf(host, 'a.tar.gz'), await nameOf(host, 'b.tar.gz')];
      const c = await invoke('c.tar.gz');
      assert.equal(c.status, 200, c.text);
      const cName = await nameOf(host, 'c.tar.gz');
      assert.deepEqual(container.calls.slice(-3), [`DELETE /models/${a}`, 'POST /models', `POST /models/${cName}/invoke`]);
      assert.equal(existsSync(join(host.hostDir, a)), false, "a's copy is deleted");
      assert.equal(host.loads.has('a.tar.gz'), false);
      // a again: b, now the least recently invoked, makes room, and a loads from its archive.
      assert.equal((await invoke('a.tar.gz')).status, 200);
      assert.deepEqual(container.calls.slice(-3), [`DELETE /models/${b}`, 'POST /models', `POST /models/${a}/invoke`]);
      assert.deepEqual(container.filesAtLoad.length, 4, 'a was extracted and loaded twice');
    } finally {
      restore();
    }
  });

  test('for disk space the copy of a model unloaded for memory (kept on disk) is deleted first, without unloading a model the container holds', async () => {
    const { dir, host, container, invoke } = await mmeEndpoint(1, { 'a.tar.gz': KB, 'b.tar.gz': KB, 'c.tar.gz': KB });
    const restore = smallDisk(dir, 2500);
    try {
      assert.equal((await invoke('a.tar.gz')).status, 200);
      const a = await nameOf(host, 'a.tar.gz');
      // The container holds 1: b's load is answered 507, a is unloaded, its copy kept.
      assert.equal((await invoke('b.tar.gz')).status, 200);
      const b = await nameOf(host, 'b.tar.gz');
      assert.ok(existsSync(join(host.hostDir, a, 'model')));
      const calls = container.calls.length;
      // c's files need a's room on disk: a's copy goes; the 507 of c's load then unloads b (kept on disk).
      const c = await invoke('c.tar.gz');
      assert.equal(c.status, 200, c.text);
      assert.deepEqual(container.calls.slice(calls), ['POST /models', `DELETE /models/${b}`, 'POST /models', `POST /models/${await nameOf(host, 'c.tar.gz')}/invoke`]);
      assert.equal(existsSync(join(host.hostDir, a)), false, "a's copy is deleted");
      assert.ok(existsSync(join(host.hostDir, b, 'model')), "b's copy stays");
    } finally {
      restore();
    }
  });

  test('a model whose files do not fit in the disk space free, with the only other model in use by an invocation, is a ValidationError saying so (not that the archive is invalid): the model in use keeps its copy and answers, and the container is not asked to load the new one', async () => {
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const { dir, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': KB, 'b.tar.gz': KB }, true, { holdInvokes: held });
    const restore = smallDisk(dir, 2000);
    const inFlight = invoke('a.tar.gz').then((r) => r);
    try {
      while (!container.calls.some((c) => c.endsWith('/invoke'))) await new Promise((r) => setImmediate(r));
      const res = await invoke('b.tar.gz');
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
      assert.match(res.body.Message, /^Failed to extract model data archive for TargetModel b\.tar\.gz from .*: there is not enough disk space for its files: .*\(no other model is unused to delete its copy\)$/);
    } finally {
      answer();
      restore();
    }
    assert.equal((await inFlight).status, 200);
    assert.deepEqual(container.calls.filter((c) => !c.endsWith('/invoke')), ['POST /models'], 'a was loaded, and neither unloaded nor b loaded');
  });

  test('a model whose load outlasted its invocation (ModelNotReadyException) is still unloaded for a 507 once loaded, though never invoked', async () => {
    let letLoad!: () => void;
    const held = new Promise<void>((resolve) => (letLoad = resolve));
    const { host, container, invoke } = await mmeEndpoint(1, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL }, true, { holdLoads: held, timeoutMs: 200 });
    const late = await invoke('a.tar.gz');
    assert.equal(late.status, 429, late.text);
    letLoad();
    const a = await nameOf(host, 'a.tar.gz');
    // b's load (a 507, a's unload, a second load) may itself outlast the 200 ms on a loaded machine:
    // it goes on, and the invocation is retried as the SDKs retry a 429, which changes no call below.
    let res = await invoke('b.tar.gz');
    for (let tries = 1; res.status === 429 && tries < 100; tries++) res = await invoke('b.tar.gz');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(container.calls, ['POST /models', 'POST /models', `DELETE /models/${a}`, 'POST /models', `POST /models/${await nameOf(host, 'b.tar.gz')}/invoke`]);
  });

  test('a 507 never unloads a model an invocation is using: with only that one loaded, the load fails and the invocation in flight still gets its answer', async () => {
    let answer!: () => void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const { container, invoke } = await mmeEndpoint(1, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL }, true, { holdInvokes: held });
    const inFlight = invoke('a.tar.gz').then((r) => r);
    try {
      while (!container.calls.some((c) => c.endsWith('/invoke'))) await new Promise((r) => setImmediate(r));
      const refused = await invoke('b.tar.gz');
      assert.equal(refused.status, 424, refused.text);
      assert.match(refused.body.OriginalMessage, /no other model was loaded and idle to unload/);
    } finally {
      answer();
    }
    assert.equal((await inFlight).status, 200);
    assert.equal(container.calls.filter((c) => c.startsWith('DELETE')).length, 0);
  });

  test('an archive that cannot be extracted (a file, then a folder of the same name) leaves no partial copy: once the archive is fixed, the next invocation extracts it whole', async () => {
    // "model.onnx" as a file, then as a folder: tar writes the file, then fails (EEXIST); the
    // extraction's check now refuses it before anything is written, and either way nothing is left.
    const { dir, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': [{ path: 'model.onnx', body: 'half' }, { path: 'model.onnx/x', body: 'y' }] });
    const broken = await invoke('a.tar.gz');
    assert.equal(broken.status, 400, broken.text);
    assert.match(broken.body.Message, /^Failed to extract model data archive for TargetModel a\.tar\.gz/);
    assert.deepEqual((existsSync(join(dir, 'models')) ? readdirSync(join(dir, 'models'), { recursive: true }) : []).filter((f) => f.toString().includes('model.onnx')), [], 'nothing half extracted is left');
    await writeFile(join(dir, 'source', 'a.tar.gz'), craftTarGz([{ path: 'model.onnx', body: 'whole' }, { path: 'labels.txt', body: 'l' }]));
    const fixed = await invoke('a.tar.gz');
    assert.equal(fixed.status, 200, fixed.text);
    assert.deepEqual(container.filesAtLoad, [{ 'labels.txt': 'l', 'model.onnx': 'whole' }]);
  });

  test('a download that fills the disk (ENOSPC) gets the copy of an unused model deleted and is fetched again, as the service deletes unused models when its storage volume is full; with none unused it is a ValidationError saying so', async () => {
    const { dir, host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    const fetches: string[] = [];
    // The stand-in for S3: b.tar.gz is stored only once a's copy is gone; the disk is full before.
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      const at = `s3://models/mme/${targetModel}`;
      if (existsSync(join(host.hostDir, a))) {
        const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        throw new Error(`${at}: ${full.message}`, { cause: Object.assign(new Error(full.message, { cause: full }), { name: 'ModelCacheWriteError' }) });
      }
      await writeFile(join(dir, 'source', targetModel), craftTarGz(MODEL));
      return { found: true, at };
    };
    const b = await invoke('b.tar.gz');
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(fetches, ['b.tar.gz', 'b.tar.gz']);
    assert.ok(container.calls.includes(`DELETE /models/${a}`));
    assert.equal(existsSync(join(host.hostDir, a)), false, "a's copy is deleted");

    // b is in use by nothing, but the disk stays full for c: b's copy goes, then nothing is left.
    host.fetch = async (targetModel) => {
      throw new Error(`s3://models/mme/${targetModel}: ENOSPC`, { cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) });
    };
    const c = await invoke('c.tar.gz');
    assert.equal(c.status, 400, c.text);
    assert.equal(c.headers['x-amzn-errortype'], 'ValidationError');
    // Then the downloads (a's stood in the model folder; b's was fetched), oldest first, as nothing uses them.
    assert.match(c.body.Message, /^Failed to download model data for TargetModel c\.tar\.gz: s3:\/\/models\/mme\/c\.tar\.gz: ENOSPC \(still too large after deleting the copy of b\.tar\.gz, the download of [ab]\.tar\.gz, the download of [ab]\.tar\.gz, which no invocation was using\)$/);
  });

  test('downloads from S3 alone filling the disk (ENOSPC) get the oldest download of a model nothing uses deleted once no copy is left to delete, so the new model loads; the deleted one is downloaded again when next invoked', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const fetches: string[] = [];
    const aDownload = join(host.source, 'a.tar.gz');
    // The stand-in for S3, storing into the download folder: beside a's download nothing else fits.
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      const at = `s3://models/mme/${targetModel}`;
      if (targetModel !== 'a.tar.gz' && existsSync(aDownload)) throw new Error(`${at}: ENOSPC`, { cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) });
      await writeFile(join(host.source, targetModel), craftTarGz(MODEL));
      return { found: true, at };
    };
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    const b = await invoke('b.tar.gz');
    assert.equal(b.status, 200, b.text);
    // a's copy went first (a unloaded), then its download.
    assert.deepEqual(fetches, ['a.tar.gz', 'b.tar.gz', 'b.tar.gz', 'b.tar.gz']);
    assert.ok(container.calls.includes(`DELETE /models/${a}`));
    assert.equal(existsSync(aDownload), false, "a's download is deleted");
    assert.ok(existsSync(join(host.source, 'b.tar.gz')), "b's download stays");
    assert.equal((await invoke('a.tar.gz')).status, 200);
    assert.deepEqual(fetches.slice(4), ['a.tar.gz']);
  });

  test('a model the container would not load (an archive packed with its folder) is a ModelError; once the archive is fixed, the next invocation extracts the fixed one and loads it, not the copy of the first', async () => {
    const { dir, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': [{ path: 'iris/model.onnx', body: 'nested' }] });
    container.model.needsTopModel = true;
    const refused = await invoke('a.tar.gz');
    assert.equal(refused.status, 424, refused.text);
    assert.match(refused.body.OriginalMessage, /no model found/);
    await writeFile(join(dir, 'source', 'a.tar.gz'), craftTarGz([{ path: 'model.onnx', body: 'top' }]));
    const fixed = await invoke('a.tar.gz');
    assert.equal(fixed.status, 200, fixed.text);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'top' }]);
    assert.deepEqual(container.calls.filter((c) => c === 'POST /models'), ['POST /models', 'POST /models']);
  });

  test('an object that cannot be extracted is downloaded again by every instance once one has failed on it: another instance (sharing the downloads of its ModelDataUrl) does not extract the download of the broken object after it was fixed', async () => {
    const first = await mmeEndpoint(10, {});
    const second = await mmeEndpoint(10, {});
    let object: Buffer = Buffer.from('not a tar.gz');
    const fetches: string[] = [];
    // The stand-in for S3, storing into the folder both instances share, as the local SageMaker's fetcher does.
    const fetchInto = (who: string) => async (targetModel: string) => {
      fetches.push(who);
      await writeFile(join(first.host.source, targetModel), object);
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    first.host.fetch = fetchInto('first');
    second.host.source = first.host.source;
    second.host.fetch = fetchInto('second');
    const broken = await first.invoke('a.tar.gz');
    assert.equal(broken.status, 400, broken.text);
    assert.match(broken.body.Message, /valid tar\.gz archive/);
    object = craftTarGz(MODEL);
    const fixed = await second.invoke('a.tar.gz');
    assert.equal(fixed.status, 200, fixed.text);
    assert.deepEqual(fetches, ['first', 'second']);
    assert.deepEqual(second.container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a download deleted after it was found and before it was extracted (another instance sharing the downloads failed on the object it held) is fetched again, not a ValidationError saying it cannot be read', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const fetches: string[] = [];
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      await writeFile(join(host.source, targetModel), craftTarGz(MODEL));
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    const download = join(host.source, 'a.tar.gz');
    const open = fsPromises.open.bind(fsPromises);
    let deletions = 0;
    // The other instance's failed load deletes the download just as this one opens it to extract it.
    const fake = mock.method(fsPromises, 'open', async (at: Parameters<typeof fsPromises.open>[0], ...rest: [flags?: string | number, mode?: number]) => {
      if (String(at) === download && deletions === 0) {
        deletions++;
        await rm(download, { force: true });
      }
      return open(at, ...rest);
    });
    try {
      const res = await invoke('a.tar.gz');
      assert.equal(res.status, 200, res.text);
    } finally {
      fake.mock.restore();
    }
    assert.equal(deletions, 1);
    assert.deepEqual(fetches, ['a.tar.gz', 'a.tar.gz']);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a download deleted between its fetch and the load finding it (another instance made room on the disk) is fetched again, not a ValidationError saying there is no such object', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const fetches: string[] = [];
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      const file = join(host.source, targetModel);
      await writeFile(file, craftTarGz(MODEL));
      // The first one is deleted as soon as it is stored.
      if (fetches.length === 1) await rm(file);
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    const res = await invoke('a.tar.gz');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(fetches, ['a.tar.gz', 'a.tar.gz']);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a download deleted again after it was fetched again (other instances keep making room on the disk) is a 503 ServiceUnavailable to retry, not a ValidationError saying there is no such object; the next invocation loads it', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const fetches: string[] = [];
    let deleteStored = true;
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      const file = join(host.source, targetModel);
      await writeFile(file, craftTarGz(MODEL));
      if (deleteStored) await rm(file);
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    const res = await invoke('a.tar.gz');
    assert.equal(res.status, 503, res.text);
    assert.equal(res.headers['x-amzn-errortype'], 'ServiceUnavailable', res.text);
    assert.match(res.text, /Failed to download model data for TargetModel a\.tar\.gz: s3:\/\/models\/mme\/a\.tar\.gz was deleted from the disk after each of 2 downloads.*try your call again/);
    assert.deepEqual(fetches, ['a.tar.gz', 'a.tar.gz']);
    assert.deepEqual(container.filesAtLoad, []);
    deleteStored = false;
    const again = await invoke('a.tar.gz');
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a download deleted before its extraction, then again after it was fetched again, is a 503 ServiceUnavailable to retry, not a ValidationError saying the archive cannot be read', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const fetches: string[] = [];
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      await writeFile(join(host.source, targetModel), craftTarGz(MODEL));
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    const download = join(host.source, 'a.tar.gz');
    const open = fsPromises.open.bind(fsPromises);
    let deleting = true;
    // Other instances' loads delete the download each time this one opens it to extract it.
    const fake = mock.method(fsPromises, 'open', async (at: Parameters<typeof fsPromises.open>[0], ...rest: [flags?: string | number, mode?: number]) => {
      if (String(at) === download && deleting) await rm(download, { force: true });
      return open(at, ...rest);
    });
    try {
      const res = await invoke('a.tar.gz');
      assert.equal(res.status, 503, res.text);
      assert.equal(res.headers['x-amzn-errortype'], 'ServiceUnavailable', res.text);
      assert.match(res.text, /Failed to download model data for TargetModel a\.tar\.gz: s3:\/\/models\/mme\/a\.tar\.gz was deleted from the disk after each of 2 downloads.*try your call again/);
      assert.deepEqual(fetches, ['a.tar.gz', 'a.tar.gz']);
      deleting = false;
      const again = await invoke('a.tar.gz');
      assert.equal(again.status, 200, again.text);
    } finally {
      fake.mock.restore();
    }
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a TargetModel that is a folder is copied as smkit package packs it: a link to a folder above it is a ValidationError naming it (not a 500 after copying the parent 40 levels deep); a FIFO and .git are left out', async () => {
    const { dir, container, invoke } = await mmeEndpoint(10, {});
    const folder = join(dir, 'source', 'folder-model');
    await mkdir(folder);
    await writeFile(join(folder, 'model.onnx'), 'weights');
    await writeFile(join(folder, '.git'), 'gitdir: ../.git/worktrees/x');
    execFileSync('mkfifo', [join(folder, 'feed')]);
    await symlink('..', join(folder, 'up'));
    const refused = await invoke('folder-model');
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.headers['x-amzn-errortype'], 'ValidationError');
    assert.match(refused.body.Message, /^Failed to copy the model folder for TargetModel folder-model from .*folder-model: .*\bup\b/);
    assert.deepEqual(container.calls, []);
    assert.deepEqual(existsSync(join(dir, 'models')) ? readdirSync(join(dir, 'models'), { recursive: true }) : [], [], 'nothing is left half copied');
    await rm(join(folder, 'up'));
    const res = await invoke('folder-model');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('an archive whose files would not fit in the disk space free (a 4 PiB file) is a ValidationError saying so, refused at its header: nothing is written, the container is not asked to load it, and no other model is unloaded for it (that would not make room)', async () => {
    const { dir, host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    const calls = container.calls.length;
    const header = Buffer.alloc(512);
    new Header({ path: 'huge.bin', type: 'File', size: 2 ** 52, mode: 0o644, mtime: new Date(0) }).encode(header, 0);
    await writeFile(join(dir, 'source', 'bomb.tar.gz'), gzipSync(Buffer.concat([header, Buffer.alloc(4096)])));
    const res = await invoke('bomb.tar.gz');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.headers['x-amzn-errortype'], 'ValidationError');
    assert.match(res.body.Message, /^Failed to extract model data archive for TargetModel bomb\.tar\.gz .*its files take more than \d+ bytes \(4503599627370496 by entry 1, "huge\.bin"\), the space free where it would be extracted.*\(deleting the other models' copies would not make room\)$/);
    assert.deepEqual(readdirSync(join(dir, 'models'), { recursive: true }).filter((f) => !f.toString().startsWith(a)), [], 'nothing is written');
    assert.deepEqual(container.calls.slice(calls), [], 'a stays loaded: unloading it would not make room');
  });

  test('an object too large for the disk (a 4 PiB file), once uploaded again smaller under its key, is what the next invocation downloads and loads: the download of the large one is not extracted again', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, {});
    const header = Buffer.alloc(512);
    new Header({ path: 'huge.bin', type: 'File', size: 2 ** 52, mode: 0o644, mtime: new Date(0) }).encode(header, 0);
    let object: Buffer = gzipSync(Buffer.concat([header, Buffer.alloc(4096)]));
    const fetches: string[] = [];
    // The stand-in for S3, storing into the download folder as the local SageMaker's fetcher does.
    host.fetch = async (targetModel) => {
      fetches.push(targetModel);
      await writeFile(join(host.source, targetModel), object);
      return { found: true, at: `s3://models/mme/${targetModel}` };
    };
    const large = await invoke('m.tar.gz');
    assert.equal(large.status, 400, large.text);
    assert.match(large.body.Message, /there is not enough disk space for its files: .*\(deleting the other models' copies would not make room\)$/);
    object = craftTarGz(MODEL);
    const small = await invoke('m.tar.gz');
    assert.equal(small.status, 200, small.text);
    assert.deepEqual(fetches, ['m.tar.gz', 'm.tar.gz']);
    assert.deepEqual(container.filesAtLoad, [{ 'model.onnx': 'weights' }]);
  });

  test('a 404 from a model the container no longer has (it restarted, or dropped it) loads the model again (POST /models) and invokes it once more, as the service loads a model that is not loaded', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    // The container restarts: it has no model loaded any more, while the front door still holds a's load.
    container.loaded.clear();
    container.calls.length = 0;
    const res = await invoke('a.tar.gz');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { model: a });
    assert.deepEqual(container.calls, [`POST /models/${a}/invoke`, 'POST /models', `POST /models/${a}/invoke`]);
    assert.deepEqual(container.filesAtLoad.at(-1), { 'model.onnx': 'weights' }, 'loaded from the copy the front door keeps');
  });

  test('invocations that meet the 404 while the model is being loaded again wait for that one load (one POST /models), and all get their answer', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    container.loaded.clear();
    container.calls.length = 0;
    let letLoad!: () => void;
    container.model.holdLoads = new Promise<void>((resolve) => (letLoad = resolve));
    const both = [invoke('a.tar.gz').then((r) => r), invoke('a.tar.gz').then((r) => r)];
    try {
      // Both invocations have had their 404, and the first one's load is held.
      const count = (call: string) => container.calls.filter((c) => c === call).length;
      while (count(`POST /models/${a}/invoke`) < 2 || count('POST /models') < 1) await new Promise((r) => setImmediate(r));
    } finally {
      letLoad();
    }
    for (const res of await Promise.all(both)) assert.equal(res.status, 200, res.text);
    assert.equal(container.calls.filter((c) => c === 'POST /models').length, 1);
  });

  test("a 404 that is the model's own answer (the container has it loaded: POST /models answers 409) is a ModelError carrying that 404, without a second invocation", async () => {
    const { host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    container.model.notFound = true;
    container.calls.length = 0;
    const res = await invoke('a.tar.gz');
    assert.equal(res.status, 424, res.text);
    assert.equal(res.body.OriginalStatusCode, 404);
    assert.equal(res.body.OriginalMessage, '{"message":"no such customer"}');
    assert.deepEqual(container.calls, [`POST /models/${a}/invoke`, 'POST /models']);
  });

  test('a model that is still not found after it was loaded again is answered with the second 404 (one retry, not a loop)', async () => {
    const { host, container, invoke } = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    assert.equal((await invoke('a.tar.gz')).status, 200);
    const a = await nameOf(host, 'a.tar.gz');
    container.loaded.clear();
    container.model.notFound = true;
    container.calls.length = 0;
    const res = await invoke('a.tar.gz');
    assert.equal(res.status, 424, res.text);
    assert.equal(res.body.OriginalStatusCode, 404);
    assert.deepEqual(container.calls, [`POST /models/${a}/invoke`, 'POST /models', `POST /models/${a}/invoke`]);
  });

  /** The endpoint of {@link mmeEndpoint} behind a real front door server, invoked through the SDK; the result or the ModelError. */
  async function sdkInvoker(ep: Awaited<ReturnType<typeof mmeEndpoint>>) {
    const server = createFrontDoorServer(createFrontDoor({ endpoints: new Map([['mme', ep.endpoint]]) }));
    servers.push(server);
    const client = new SageMakerRuntimeClient({ ...localClientConfig(`http://127.0.0.1:${await listenFrontDoor(server, 0)}`), maxAttempts: 1 });
    clients.push(client);
    return (target: string) =>
      client.send(new InvokeEndpointCommand({ EndpointName: 'mme', TargetModel: target, Body: Buffer.from('x') })).then(
        (out) => JSON.parse(Buffer.from(out.Body!).toString()) as { model: string },
        (err: ModelError) => err,
      );
  }

  test('an invocation answered 507 (out of GPU memory) unloads the least recently invoked idle model (its copy kept on disk) and is sent once more, through the SDK', async () => {
    const ep = await mmeEndpoint(10, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL, 'c.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    ep.container.model.oomAbove = 2;
    for (const t of ['a.tar.gz', 'b.tar.gz', 'a.tar.gz']) assert.ok(!((await invoke(t)) instanceof Error));
    const [a, b] = [await nameOf(ep.host, 'a.tar.gz'), await nameOf(ep.host, 'b.tar.gz')];
    ep.container.calls.length = 0;
    const res = await invoke('c.tar.gz');
    const c = await nameOf(ep.host, 'c.tar.gz');
    assert.deepEqual(res, { model: c });
    // b was invoked longest ago: it goes, a stays.
    assert.deepEqual(ep.container.calls, ['POST /models', `POST /models/${c}/invoke`, `DELETE /models/${b}`, `POST /models/${c}/invoke`]);
    assert.deepEqual([...ep.container.loaded.keys()].sort(), [a, c].sort());
    assert.ok(existsSync(join(ep.host.hostDir, b, 'model', 'model.onnx')), 'a model unloaded for memory stays on disk');
    assert.equal(ep.host.loads.has('b.tar.gz'), false);
  });

  test('an invocation answered 507 with no other idle model to unload, or 507 again after one was, is a ModelError carrying the 507; each 507 unloads one more', async () => {
    const alone = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    alone.container.model.oomAbove = 0;
    const err = (await (await sdkInvoker(alone))('a.tar.gz')) as ModelError;
    assert.equal(err.name, 'ModelError', String(err));
    assert.equal(err.$metadata.httpStatusCode, 424);
    assert.equal(err.OriginalStatusCode, 507);
    assert.match(err.OriginalMessage!, /CUDA out of memory.*invoking a\.tar\.gz: no other model was loaded and idle to unload; give the container more memory/);
    const a = await nameOf(alone.host, 'a.tar.gz');
    assert.deepEqual(alone.container.calls, ['POST /models', `POST /models/${a}/invoke`], 'sent once: nothing to unload');

    const ep = await mmeEndpoint(10, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL, 'c.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    for (const t of ['a.tar.gz', 'b.tar.gz', 'c.tar.gz']) assert.ok(!((await invoke(t)) instanceof Error));
    const [a2, b2, c2] = await Promise.all(['a.tar.gz', 'b.tar.gz', 'c.tar.gz'].map((t) => nameOf(ep.host, t)));
    ep.container.model.oomAbove = 1;
    ep.container.calls.length = 0;
    const again = (await invoke('c.tar.gz')) as ModelError;
    assert.equal(again.name, 'ModelError', String(again));
    assert.equal(again.OriginalStatusCode, 507);
    assert.match(again.OriginalMessage!, /invoking c\.tar\.gz: still 507 after unloading the least recently used idle model a\.tar\.gz/);
    assert.deepEqual(ep.container.calls, [`POST /models/${c2}/invoke`, `DELETE /models/${a2}`, `POST /models/${c2}/invoke`], 'sent once more, not in a loop');
    assert.deepEqual(await invoke('c.tar.gz'), { model: c2 });
    assert.deepEqual(ep.container.calls.slice(3), [`POST /models/${c2}/invoke`, `DELETE /models/${b2}`, `POST /models/${c2}/invoke`]);
  });

  test('an invocation answered 507 by a container that unloads the model with it (smkit serve, its thread out of heap) is a ModelError carrying that 507, not the 404 of the second try; the next invocation loads it again', async () => {
    const ep = await mmeEndpoint(10, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    for (const t of ['a.tar.gz', 'b.tar.gz']) assert.ok(!((await invoke(t)) instanceof Error));
    const [a, b] = [await nameOf(ep.host, 'a.tar.gz'), await nameOf(ep.host, 'b.tar.gz')];
    Object.assign(ep.container.model, { oomAbove: 1, dropOnOom: true });
    ep.container.calls.length = 0;
    const err = (await invoke('b.tar.gz')) as ModelError;
    assert.equal(err.name, 'ModelError', String(err));
    assert.equal(err.OriginalStatusCode, 507);
    assert.match(err.OriginalMessage!, /CUDA out of memory.*\(invoking b\.tar\.gz: sent again after unloading the least recently used idle model a\.tar\.gz, it was no longer loaded \(404\): the container unloaded it with its 507, and the next invocation loads it again; give the container more memory or send smaller requests\)/);
    assert.deepEqual(ep.container.calls, [`POST /models/${b}/invoke`, `DELETE /models/${a}`, `POST /models/${b}/invoke`], 'not loaded and sent a third time');
    assert.deepEqual(await invoke('b.tar.gz'), { model: b });
    assert.deepEqual(ep.container.calls.slice(3), [`POST /models/${b}/invoke`, 'POST /models', `POST /models/${b}/invoke`]);
  });

  test('a model load whose answer breaks off part-way is a 503 ServiceUnavailable saying so, as a lost container connection is for an invocation (not a 500 InternalFailure); the next invocation loads it', async () => {
    const ep = await mmeEndpoint(10, { 'a.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    ep.container.model.cut = (call) => call === 'POST /models';
    const err = (await invoke('a.tar.gz')) as ModelError;
    assert.equal(err.name, 'ServiceUnavailable', String(err));
    assert.equal(err.$metadata.httpStatusCode, 503);
    assert.match(err.message, /^Container primary is not reachable \(loading a\.tar\.gz: connection lost while reading the response: /);
    delete ep.container.model.cut;
    assert.deepEqual(await invoke('a.tar.gz'), { model: await nameOf(ep.host, 'a.tar.gz') });
  });

  test('an unload (for a load answered 507) whose answer breaks off part-way is a 503 ServiceUnavailable saying so (not a 500 InternalFailure)', async () => {
    const ep = await mmeEndpoint(1, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    assert.ok(!((await invoke('a.tar.gz')) instanceof Error));
    const a = await nameOf(ep.host, 'a.tar.gz');
    ep.container.model.cut = (call) => call === `DELETE /models/${a}`;
    const err = (await invoke('b.tar.gz')) as ModelError;
    assert.equal(err.name, 'ServiceUnavailable', String(err));
    assert.equal(err.$metadata.httpStatusCode, 503);
    assert.match(err.message, /^Container primary is not reachable \(unloading a\.tar\.gz: connection lost while reading the response: /);
    assert.deepEqual(ep.container.calls.slice(-2), ['POST /models', `DELETE /models/${a}`]);
  });

  test('a model load that fetch cannot make is a 503 ServiceUnavailable naming the cause (not a bare "fetch failed") and what to do: a connection closed with no answer, then a container that no longer listens', async () => {
    const ep = await mmeEndpoint(10, { 'a.tar.gz': MODEL, 'b.tar.gz': MODEL });
    const invoke = await sdkInvoker(ep);
    ep.container.model.reset = (call) => call === 'POST /models';
    const closed = (await invoke('a.tar.gz')) as ModelError;
    assert.equal(closed.name, 'ServiceUnavailable', String(closed));
    assert.equal(closed.$metadata.httpStatusCode, 503);
    assert.match(closed.message, /^Container primary is not reachable \(loading a\.tar\.gz: UND_ERR_SOCKET: other side closed\); the container closed the connection: it may have exited or be restarting\. See .*primary\.log for more information\.$/);
    delete ep.container.model.reset;
    assert.deepEqual(await invoke('a.tar.gz'), { model: await nameOf(ep.host, 'a.tar.gz') });

    ep.container.server.closeAllConnections();
    await new Promise((r) => ep.container.server.close(r));
    const refused = (await invoke('b.tar.gz')) as ModelError;
    assert.equal(refused.name, 'ServiceUnavailable', String(refused));
    assert.equal(refused.$metadata.httpStatusCode, 503);
    assert.match(refused.message, /^Container primary is not reachable \(loading b\.tar\.gz: connect ECONNREFUSED 127\.0\.0\.1:\d+\); nothing listens at its address: the container may have exited or be restarting\. See /);
    assert.doesNotMatch(refused.message, /fetch failed/);
  });
});
