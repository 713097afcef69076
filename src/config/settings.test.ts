import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings, parseLogLevel, readLogFormat } from './settings.js';
import { ToolkitError } from '../errors/catalogue.js';

test('defaults follow the SageMaker contract', () => {
  const s = loadSettings({}, {}, 4);
  assert.equal(s.baseDir, '/opt/ml');
  assert.equal(s.modelDir, '/opt/ml/model');
  assert.equal(s.port, 8080);
  assert.equal(s.workers, 4);
  assert.equal(s.timeoutSeconds, 60);
  assert.equal(s.maxPayloadMb, 6);
  assert.equal(s.maxDecodedMb, 96, 'the decoded-size budget follows the payload limit');
  assert.equal(s.bodyTimeoutSeconds, 60);
  assert.equal(s.defaultAccept, 'application/json');
  assert.equal(s.program, 'inference');
  assert.equal(s.batchStrategy, 'MULTI_RECORD');
  assert.equal(s.maxConcurrentTransforms, 4);
  assert.equal(s.intraOpThreads, 1);
  assert.ok(Object.isFrozen(s));
});

test('environment values are read and SM_MODEL_DIR follows SAGEMAKER_BASE_DIR', () => {
  const s = loadSettings(
    {
      SAGEMAKER_BASE_DIR: '/tmp/ml',
      SAGEMAKER_BIND_TO_PORT: '1738',
      SAGEMAKER_SAFE_PORT_RANGE: '1111-2222',
      SAGEMAKER_MODEL_SERVER_WORKERS: '8',
      SAGEMAKER_MODEL_SERVER_TIMEOUT: '20',
      SAGEMAKER_MAX_PAYLOAD_IN_MB: '10',
      SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: 'text/csv',
      SAGEMAKER_PROGRAM: 'main.py',
      SAGEMAKER_CONTAINER_LOG_LEVEL: '30',
      SMKIT_BATCH_MAX_SIZE: '32',
      SMKIT_BATCH_MAX_DELAY_MS: '2.5',
      SAGEMAKER_BATCH_STRATEGY: 'single_record',
      SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '3',
    },
    {},
    2,
  );
  assert.equal(s.modelDir, '/tmp/ml/model');
  assert.equal(s.port, 1738);
  assert.deepEqual(s.safePortRange, [1111, 2222]);
  assert.equal(s.workers, 8);
  assert.equal(s.timeoutSeconds, 20);
  assert.equal(s.maxPayloadMb, 10);
  assert.equal(s.defaultAccept, 'text/csv');
  assert.equal(s.program, 'main');
  assert.equal(s.logLevel, 'warn');
  assert.equal(s.batchMaxSize, 32);
  assert.equal(s.batchMaxDelayMs, 2.5);
  assert.equal(s.batchStrategy, 'SINGLE_RECORD');
  assert.equal(s.maxConcurrentTransforms, 3);
});

test('SMKIT_WORKER_SEMI_SPACE_MB: auto is 32 MB on Node 24+, else 16 MB with dynamic batching on and 0 without; a number wins', () => {
  for (const node of [20, 22]) {
    assert.equal(loadSettings({}, {}, 2, node).workerSemiSpaceMb, 0, `Node ${node}`);
    assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '32' }, {}, 2, node).workerSemiSpaceMb, 16, `Node ${node}`);
    assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '32', SMKIT_WORKER_SEMI_SPACE_MB: 'AUTO' }, {}, 2, node).workerSemiSpaceMb, 16);
  }
  for (const node of [24, 26]) {
    assert.equal(loadSettings({}, {}, 2, node).workerSemiSpaceMb, 32, `Node ${node}`);
    assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '32' }, {}, 2, node).workerSemiSpaceMb, 32, `Node ${node}`);
  }
  assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '32', SMKIT_WORKER_SEMI_SPACE_MB: '0' }, {}, 2, 24).workerSemiSpaceMb, 0);
  assert.equal(loadSettings({ SMKIT_WORKER_SEMI_SPACE_MB: '0' }, {}, 2, 24).workerSemiSpaceMb, 0);
  assert.equal(loadSettings({ SMKIT_WORKER_SEMI_SPACE_MB: '32' }, {}, 2, 20).workerSemiSpaceMb, 32);
});

test('SMKIT_WORKER_OLD_SPACE_MB: auto is 128 MB in a batch transform container (SAGEMAKER_BATCH), else 0; a number wins', () => {
  for (const node of [20, 22, 24]) {
    assert.equal(loadSettings({}, {}, 2, node).workerOldSpaceMb, 0, `Node ${node}`);
    assert.equal(loadSettings({ SAGEMAKER_BATCH: 'true' }, {}, 2, node).workerOldSpaceMb, 128, `Node ${node}`);
    assert.equal(loadSettings({ SAGEMAKER_BATCH: 'True', SMKIT_WORKER_OLD_SPACE_MB: 'auto' }, {}, 2, node).workerOldSpaceMb, 128, 'SageMaker local mode writes True');
    assert.equal(loadSettings({ SAGEMAKER_BATCH: 'false' }, {}, 2, node).workerOldSpaceMb, 0);
  }
  assert.equal(loadSettings({ SAGEMAKER_BATCH: 'true', SMKIT_WORKER_OLD_SPACE_MB: '0' }, {}, 2, 20).workerOldSpaceMb, 0);
  // A switch, as the others: 1 or yes is on, and a value no switch takes is refused (it was read as off), even where a number wins.
  assert.equal(loadSettings({ SAGEMAKER_BATCH: '1' }, {}, 2, 20).workerOldSpaceMb, 128);
  assert.equal(loadSettings({ SAGEMAKER_BATCH: ' YES ' }, {}, 2, 20).workerOldSpaceMb, 128);
  for (const old of [{}, { SMKIT_WORKER_OLD_SPACE_MB: '64' }]) {
    assert.throws(() => loadSettings({ ...old, SAGEMAKER_BATCH: 'ture' }, {}, 2, 20), {
      code: 'ERR_CONFIG_INVALID',
      message: 'SAGEMAKER_BATCH="ture" is invalid: expected true, false, 1, 0, yes, no, on or off (any case). Did you mean "true"?',
    });
  }
  assert.equal(loadSettings({ SMKIT_WORKER_OLD_SPACE_MB: '256' }, {}, 2, 24).workerOldSpaceMb, 256);
  assert.throws(() => loadSettings({ SMKIT_WORKER_OLD_SPACE_MB: '-1' }, {}, 2), /SMKIT_WORKER_OLD_SPACE_MB="-1" is invalid/);
  assert.throws(() => loadSettings({ SMKIT_WORKER_OLD_SPACE_MB: '64MB' }, {}, 2), /SMKIT_WORKER_OLD_SPACE_MB/);
});

test('SMKIT_WORKER_HEAP_GROWING_PERCENT: auto is 300 on every Node line; 0 and whole percents up to 1000 are taken', () => {
  for (const node of [20, 22, 24]) assert.equal(loadSettings({}, {}, 2, node).workerHeapGrowingPercent, 300, `Node ${node}`);
  assert.equal(loadSettings({ SMKIT_WORKER_HEAP_GROWING_PERCENT: 'AUTO' }, {}, 2).workerHeapGrowingPercent, 300);
  assert.equal(loadSettings({ SMKIT_WORKER_HEAP_GROWING_PERCENT: '0' }, {}, 2).workerHeapGrowingPercent, 0);
  assert.equal(loadSettings({ SMKIT_WORKER_HEAP_GROWING_PERCENT: '150' }, {}, 2).workerHeapGrowingPercent, 150);
  for (const bad of ['-1', '1001', '2.5', '300%']) {
    assert.throws(() => loadSettings({ SMKIT_WORKER_HEAP_GROWING_PERCENT: bad }, {}, 2), /SMKIT_WORKER_HEAP_GROWING_PERCENT=.* is invalid: expected `auto` or a whole number of percent from 0 to 1000/, bad);
  }
});

test('SMKIT_CONNECTION_BALANCING: auto by default, any case accepted', () => {
  assert.equal(loadSettings({}, {}, 2).connectionBalancing, 'auto');
  assert.equal(loadSettings({ SMKIT_CONNECTION_BALANCING: 'Kernel' }, {}, 2).connectionBalancing, 'kernel');
  assert.equal(loadSettings({ SMKIT_CONNECTION_BALANCING: 'primary' }, {}, 2).connectionBalancing, 'primary');
});

test('SMKIT_CONNECTION_REBALANCING: on by default, off with false', () => {
  assert.equal(loadSettings({}, {}, 2).connectionRebalancing, true);
  assert.equal(loadSettings({ SMKIT_CONNECTION_REBALANCING: 'false' }, {}, 2).connectionRebalancing, false);
});

test('every switch variable takes true, false, 1, 0, yes, no, on and off in any case, and its error lists exactly those', () => {
  const switches = [
    ['SMKIT_DEBUG', (s: ReturnType<typeof loadSettings>) => s.debug],
    ['SMKIT_CONNECTION_REBALANCING', (s: ReturnType<typeof loadSettings>) => s.connectionRebalancing],
    ['SAGEMAKER_MULTI_MODEL', (s: ReturnType<typeof loadSettings>) => s.multiModel],
    ['SMKIT_METRICS', (s: ReturnType<typeof loadSettings>) => s.metrics],
    ['SAGEMAKER_ENABLE_STATEFUL_SESSIONS', (s: ReturnType<typeof loadSettings>) => s.sessions !== undefined],
  ] as const;
  for (const [name, read] of switches) {
    for (const on of ['true', 'TRUE', '1', 'yes', 'Yes', 'on', ' ON ']) assert.equal(read(loadSettings({ [name]: on }, {}, 2)), true, `${name}=${on}`);
    for (const off of ['false', 'False', '0', 'no', 'NO', 'off', 'Off']) assert.equal(read(loadSettings({ [name]: off }, {}, 2)), false, `${name}=${off}`);
    for (const bad of ['sometimes', '2', 'y', 'enabled']) {
      assert.throws(
        () => loadSettings({ [name]: bad }, {}, 2),
        (err: unknown) =>
          err instanceof ToolkitError &&
          err.code === 'ERR_CONFIG_INVALID' &&
          err.message === `${name}=${JSON.stringify(bad)} is invalid: expected true, false, 1, 0, yes, no, on or off (any case).`,
        `${name}=${bad}`,
      );
    }
  }
  assert.throws(() => loadSettings({ SMKIT_METRICS: 'flase' }, {}, 2), /SMKIT_METRICS="flase" is invalid: expected true, false, 1, 0, yes, no, on or off \(any case\)\. Did you mean "false"\?$/);
});

test('CLI overrides win over the environment', () => {
  const s = loadSettings({ SAGEMAKER_BIND_TO_PORT: '9000', SM_MODEL_DIR: '/a' }, { port: 7000, modelDir: '/b', workers: 2 }, 8);
  assert.equal(s.port, 7000);
  assert.equal(s.modelDir, '/b');
  assert.equal(s.workers, 2);
});

test('SMKIT_BATCH_MAX_DELAY_MS not below the invocation timeout is refused naming both: a batch that does not fill would wait past every deadline', () => {
  assert.throws(
    () => loadSettings({ SMKIT_BATCH_MAX_SIZE: '8', SMKIT_BATCH_MAX_DELAY_MS: '2000', SAGEMAKER_MODEL_SERVER_TIMEOUT: '2' }, {}, 2),
    (err: ToolkitError) =>
      err.code === 'ERR_CONFIG_INVALID' &&
      err.details?.['variable'] === 'SMKIT_BATCH_MAX_DELAY_MS' &&
      /SMKIT_BATCH_MAX_DELAY_MS="2000" is invalid: expected a decimal number from 0 to 10000, and below the invocation timeout \(2000 ms, SAGEMAKER_MODEL_SERVER_TIMEOUT\)/.test(err.message),
  );
  // The variable that set the timeout is the one named.
  assert.throws(
    () => loadSettings({ SMKIT_BATCH_MAX_SIZE: '2', SMKIT_BATCH_MAX_DELAY_MS: '600', SAGEMAKER_MODEL_SERVER_TIMEOUT: '60', SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '0.5' }, {}, 2),
    /SMKIT_BATCH_MAX_DELAY_MS="600" is invalid: expected a decimal number from 0 to 10000, and below the invocation timeout \(500 ms, SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS\) with batching on \(SMKIT_BATCH_MAX_SIZE=2\)/,
  );
  assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '8', SMKIT_BATCH_MAX_DELAY_MS: '1999', SAGEMAKER_MODEL_SERVER_TIMEOUT: '2' }, {}, 2).batchMaxDelayMs, 1999);
  assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '8', SAGEMAKER_MODEL_SERVER_TIMEOUT: '0.001' }, {}, 2).batchMaxDelayMs, 0);
});

test('SMKIT_BATCH_MAX_DELAY_MS with batching off (SMKIT_BATCH_MAX_SIZE 1, the default) is not refused whatever the timeout: the delay is unused, and a setup that started before still starts', () => {
  assert.equal(loadSettings({ SMKIT_BATCH_MAX_DELAY_MS: '5000', SAGEMAKER_MODEL_SERVER_TIMEOUT: '2' }, {}, 2).batchMaxDelayMs, 5000);
  assert.equal(loadSettings({ SMKIT_BATCH_MAX_SIZE: '1', SMKIT_BATCH_MAX_DELAY_MS: '600', SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '0.5' }, {}, 2).batchMaxDelayMs, 600);
});

for (const [name, value] of [
  ['SAGEMAKER_BIND_TO_PORT', 'eighty'],
  ['SAGEMAKER_BIND_TO_PORT', '70000'],
  ['SAGEMAKER_MODEL_SERVER_WORKERS', '0'],
  ['SAGEMAKER_MODEL_SERVER_TIMEOUT', '-1'],
  ['SAGEMAKER_MODEL_SERVER_TIMEOUT', '0x10'],
  ['SAGEMAKER_STARTUP_TIMEOUT', '0b11'],
  ['SAGEMAKER_MAX_PAYLOAD_IN_MB', '0o7'],
  ['SAGEMAKER_MAX_PAYLOAD_IN_MB', 'lots'],
  ['SAGEMAKER_SAFE_PORT_RANGE', '2000-1000'],
  ['SAGEMAKER_SAFE_PORT_RANGE', '0-1000'],
  ['SAGEMAKER_SAFE_PORT_RANGE', '1000-65536'],
  ['SAGEMAKER_SAFE_PORT_RANGE', '0x10-0x20'],
  ['SAGEMAKER_SAFE_PORT_RANGE', '1000'],
  ['SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT', 'json'],
  ['SAGEMAKER_CONTAINER_LOG_LEVEL', 'LOUD'],
  ['SMKIT_BATCH_MAX_SIZE', '0'],
  ['SMKIT_BATCH_MAX_DELAY_MS', '-1'],
  ['SMKIT_WORKER_SEMI_SPACE_MB', '-16'],
  ['SMKIT_WORKER_SEMI_SPACE_MB', '1000'],
  ['SMKIT_WORKER_SEMI_SPACE_MB', 'big'],
  ['SAGEMAKER_BATCH_STRATEGY', 'ALL'],
  ['SMKIT_DEVICE', 'tpu'],
  ['SAGEMAKER_PROGRAM', '../evil'],
  ['SMKIT_CONNECTION_BALANCING', 'reuseport'],
  ['SMKIT_CONNECTION_REBALANCING', 'sometimes'],
  ['SMKIT_BIDI_STREAMS_MAX', '0'],
  ['SMKIT_BIDI_STREAMS_MAX', '1.5'],
  ['SMKIT_BIDI_STREAMS_MAX', 'many'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'app.example.com'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'https://app.example.com/page'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'https://app.example.com?x=1'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'https://user@app.example.com'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'file:///home/page.html'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'https://a.example,*'],
  ['SMKIT_CORS_ALLOW_ORIGINS', 'https://a.example,'],
] as const) {
  test(`invalid ${name}=${value} is refused naming the variable`, () => {
    assert.throws(
      () => loadSettings({ [name]: value }, {}, 2),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.includes(name),
    );
  });
}

test('SAGEMAKER_PROGRAM that is only an extension (.py, .js) or a path is refused quoting the value as set, as smkit package refuses it', () => {
  for (const value of ['.py', '.js', ' .mjs ', 'code/inference.py', '..py']) {
    assert.throws(
      () => loadSettings({ SAGEMAKER_PROGRAM: value }, {}, 2),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && (err.details as { variable?: string }).variable === 'SAGEMAKER_PROGRAM'
        && err.message === `SAGEMAKER_PROGRAM=${JSON.stringify(value.trim())} is invalid: expected a module file name inside code/, without directories.`,
      value,
    );
  }
  assert.equal(loadSettings({ SAGEMAKER_PROGRAM: 'serve.py' }, {}, 2).program, 'serve');
  // A TypeScript handler's name: serve.ts.mjs was looked for, so the handler was never found.
  assert.equal(loadSettings({ SAGEMAKER_PROGRAM: 'serve.ts' }, {}, 2).program, 'serve');
  assert.equal(loadSettings({ SAGEMAKER_PROGRAM: '  ' }, {}, 2).program, 'inference');
});

test('SMKIT_DEVICE names at least one device: commas alone are refused, not read as an empty list; an unknown one is named in the value quoted whole', () => {
  for (const value of [',', ' , ,', ',,']) {
    assert.throws(() => loadSettings({ SMKIT_DEVICE: value }, {}, 2), (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && err.message.startsWith(`SMKIT_DEVICE=${JSON.stringify(value.trim())} is invalid`), value);
  }
  assert.throws(() => loadSettings({ SMKIT_DEVICE: 'cuda,cpi' }, {}, 2), /^ToolkitError: SMKIT_DEVICE="cuda,cpi" is invalid: expected a comma-separated list of auto, cpu, cuda, tensorrt, gpu \("cpi" is none of them\)\. Did you mean "cpu"\?$/);
  assert.deepEqual(loadSettings({ SMKIT_DEVICE: 'CUDA,,cpu' }, {}, 2).devices, ['cuda', 'cpu']);
  assert.deepEqual(loadSettings({ SMKIT_DEVICE: ' ' }, {}, 2).devices, ['cpu']);
});

test('an invalid log level is refused with every form the log-level variables take', () => {
  for (const name of ['SAGEMAKER_CONTAINER_LOG_LEVEL', 'SMKIT_LOG_LEVEL']) {
    assert.throws(
      () => loadSettings({ [name]: '15' }, {}, 2),
      new RegExp(`\\b${name}="15" is invalid: expected a Python level number \\(0, 10, 20, 30, 40, 50\\) or name \\(NOTSET, DEBUG, INFO, WARNING, ERROR, CRITICAL\\), or trace, warn, fatal or silent\\.$`),
    );
  }
  for (const level of ['0', 'NOTSET', 'trace', 'fatal', 'silent', 'warn']) assert.doesNotThrow(() => loadSettings({ SMKIT_LOG_LEVEL: level }, {}, 2), level);
});

test('SMKIT_INFERENCE_THREAD_HEAP_MB is 0 (Node\'s own limit) or 16 MB and up: a smaller heap is refused, as Node 22 and 24 end the whole process for one', () => {
  assert.equal(loadSettings({}, {}, 2).inferenceThreadHeapMb, 0);
  assert.equal(loadSettings({ SMKIT_INFERENCE_THREAD_HEAP_MB: '0' }, {}, 2).inferenceThreadHeapMb, 0);
  assert.equal(loadSettings({ SMKIT_INFERENCE_THREAD_HEAP_MB: '16' }, {}, 2).inferenceThreadHeapMb, 16);
  assert.equal(loadSettings({ SMKIT_INFERENCE_THREAD_HEAP_MB: '1048576' }, {}, 2).inferenceThreadHeapMb, 1_048_576);
  for (const value of ['2', '15', '015', '-1', '16.5', '1048577', 'lots']) {
    assert.throws(
      () => loadSettings({ SMKIT_INFERENCE_THREAD_HEAP_MB: value }, {}, 2),
      (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID'
        && err.message === `SMKIT_INFERENCE_THREAD_HEAP_MB="${value}" is invalid: expected 0 (Node's own limit) or a whole number from 16 to 1048576.`,
    );
  }
});

test('SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS sets the invocation timeout and wins over SAGEMAKER_MODEL_SERVER_TIMEOUT', () => {
  assert.equal(loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '240' }, {}, 2).timeoutSeconds, 240);
  assert.equal(loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT: '20', SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '30' }, {}, 2).timeoutSeconds, 30);
  assert.equal(loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT: '20', SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '' }, {}, 2).timeoutSeconds, 20);
  assert.throws(() => loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '0' }, {}, 2), /SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS="0" is invalid/);
});

test('a worker may be blocked for the invocation timeout plus 30 s unless SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS (1 to 86400) says otherwise', () => {
  assert.equal(loadSettings({}, {}, 2).workerBlockedTimeoutSeconds, 90);
  assert.equal(loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS: '600' }, {}, 2).workerBlockedTimeoutSeconds, 630, 'longer than any invocation may legitimately run');
  assert.equal(loadSettings({ SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS: '5' }, {}, 2).workerBlockedTimeoutSeconds, 5);
  assert.throws(() => loadSettings({ SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS: '0.5' }, {}, 2), /SMKIT_WORKER_BLOCKED_TIMEOUT_SECONDS="0\.5" is invalid: expected a decimal number from 1 to 86400/);
});

test('number settings are read in decimal, with a fraction or an exponent', () => {
  const s = loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT: '1e3', SAGEMAKER_STARTUP_TIMEOUT: '.5e2', SAGEMAKER_MAX_PAYLOAD_IN_MB: '2.5' }, {}, 2);
  assert.equal(s.timeoutSeconds, 1000);
  assert.equal(s.startupTimeoutSeconds, 50);
  assert.equal(s.maxPayloadMb, 2.5);
  assert.throws(() => loadSettings({ SAGEMAKER_MODEL_SERVER_TIMEOUT: '0x10' }, {}, 2), /SAGEMAKER_MODEL_SERVER_TIMEOUT="0x10" is invalid: expected a decimal number from 0\.001 to 86400/);
});

test('a server holds at most 1000 bidirectional streams unless SMKIT_BIDI_STREAMS_MAX (1 to 1000000) says otherwise', () => {
  assert.equal(loadSettings({}, {}, 2).bidiStreamsMax, 1000);
  assert.equal(loadSettings({ SMKIT_BIDI_STREAMS_MAX: '8' }, {}, 2).bidiStreamsMax, 8);
  assert.throws(() => loadSettings({ SMKIT_BIDI_STREAMS_MAX: '1000001' }, {}, 2), /SMKIT_BIDI_STREAMS_MAX="1000001" is invalid: expected a whole number from 1 to 1000000/);
});

test('SMKIT_CORS_ALLOW_ORIGINS is unset by default, * for any page, else origins in the form a browser sends them', () => {
  assert.equal(loadSettings({}, {}, 2).corsAllowOrigins, undefined);
  assert.equal(loadSettings({ SMKIT_CORS_ALLOW_ORIGINS: ' * ' }, {}, 2).corsAllowOrigins, 'any');
  const origins = loadSettings({ SMKIT_CORS_ALLOW_ORIGINS: 'HTTPS://App.Example.com:443/, http://localhost:3000,http://[::1]:8000' }, {}, 2).corsAllowOrigins;
  assert.deepEqual(origins, ['https://app.example.com', 'http://localhost:3000', 'http://[::1]:8000']);
  assert.throws(
    () => loadSettings({ SMKIT_CORS_ALLOW_ORIGINS: 'https://ok.example,https://app.example.com/page' }, {}, 2),
    /SMKIT_CORS_ALLOW_ORIGINS=.* is invalid: expected a comma-separated list of web page origins .*"https:\/\/app\.example\.com\/page" is not one/,
  );
});

test('Python log levels map to pino levels', () => {
  assert.equal(parseLogLevel('10'), 'debug');
  assert.equal(parseLogLevel('WARNING'), 'warn');
  assert.equal(parseLogLevel('critical'), 'fatal');
  assert.equal(parseLogLevel('nope'), undefined);
});

test('the decoded-size budget follows SAGEMAKER_MAX_PAYLOAD_IN_MB unless SMKIT_MAX_DECODED_MB sets it', () => {
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '2' }).maxDecodedMb, 32);
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '2', SMKIT_MAX_DECODED_MB: '10' }).maxDecodedMb, 10);
  assert.throws(() => loadSettings({ SMKIT_MAX_DECODED_MB: '0' }), /SMKIT_MAX_DECODED_MB/);
  assert.throws(() => loadSettings({ SMKIT_BODY_TIMEOUT_SECONDS: 'soon' }), /SMKIT_BODY_TIMEOUT_SECONDS/);
});

test('the body memory is a quarter of the memory per worker, at least two largest bodies, and at least one when set', () => {
  const gb = 1024 ** 3;
  assert.equal(loadSettings({}, {}, 2, 20, 8 * gb).bodyMemoryMb, 1024, '8 GB, 2 workers: 1 GB each');
  assert.equal(loadSettings({ SAGEMAKER_MODEL_SERVER_WORKERS: '4' }, {}, 2, 20, 8 * gb).bodyMemoryMb, 512);
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '100' }, {}, 2, 20, 0.5 * gb).bodyMemoryMb, 200, 'never below two largest bodies');
  assert.equal(loadSettings({ SMKIT_BODY_MEMORY_MB: '64' }, {}, 2, 20, 8 * gb).bodyMemoryMb, 64);
  assert.throws(() => loadSettings({ SMKIT_BODY_MEMORY_MB: '5' }, {}, 2, 20, 8 * gb), /SMKIT_BODY_MEMORY_MB="5" is invalid: expected a decimal number from 6 \(SAGEMAKER_MAX_PAYLOAD_IN_MB, 6 by default: a body of the largest size allowed must fit\) to 1048576\.$/);
  assert.throws(() => loadSettings({ SMKIT_BODY_MEMORY_MB: 'lots' }), /SMKIT_BODY_MEMORY_MB/);
});

test('log format: json, pretty, or auto (pretty on a terminal); a bad value names the flag or variable', () => {
  assert.equal(readLogFormat({}, undefined, false), 'json');
  assert.equal(readLogFormat({}, undefined, true), 'pretty');
  assert.equal(readLogFormat({ SMKIT_LOG_FORMAT: 'json' }, undefined, true), 'json');
  assert.equal(readLogFormat({ SMKIT_LOG_FORMAT: 'pretty' }, 'json', true), 'json');
  assert.throws(() => readLogFormat({ SMKIT_LOG_FORMAT: 'xml' }), /SMKIT_LOG_FORMAT/);
  assert.throws(() => readLogFormat({}, 'xml'), /--log-format/);
  assert.equal(loadSettings({}, { host: '127.0.0.1', terminal: false }).host, '127.0.0.1');
  assert.equal(loadSettings({}, { terminal: false }).logFormat, 'json');
});

test('SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=0 (a transform job with MaxConcurrentTransforms=0, which the API takes as unset) starts with the default, the workers', () => {
  const s = loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '0', SAGEMAKER_BATCH: 'true', SAGEMAKER_MODEL_SERVER_WORKERS: '3' }, {}, 2);
  assert.equal(s.maxConcurrentTransforms, 3);
  assert.equal(loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '1' }, {}, 2).maxConcurrentTransforms, 1);
});

test('the default SAGEMAKER_MAX_CONCURRENT_TRANSFORMS keeps MaxConcurrentTransforms × MaxPayloadInMB within the 100 MB a transform job allows; a set value is reported as given', () => {
  assert.equal(loadSettings({}, {}, 64).maxConcurrentTransforms, 16, '64 workers, 6 MB: 16 × 6 = 96');
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '30' }, {}, 8).maxConcurrentTransforms, 3);
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '100' }, {}, 8).maxConcurrentTransforms, 1);
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '200' }, {}, 8).maxConcurrentTransforms, 1, 'never below 1');
  assert.equal(loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '0' }, {}, 8).maxConcurrentTransforms, 8, 'a streamed payload (0) sets no bound');
  assert.equal(loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '40' }, {}, 64).maxConcurrentTransforms, 40);
  assert.equal(loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '0' }, {}, 64).maxConcurrentTransforms, 16);
  assert.throws(() => loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '-1' }), /SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="-1" is invalid: expected a whole number from 0 to 2147483647/);
  // CreateTransformJob sets no maximum, and with MaxPayloadInMB=0 the 100 MB product bounds nothing: a
  // job with MaxConcurrentTransforms=2000 gets a container started with these, which must not refuse them.
  assert.equal(loadSettings({ SAGEMAKER_BATCH: 'true', SAGEMAKER_MAX_PAYLOAD_IN_MB: '0', SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2000' }, {}, 2).maxConcurrentTransforms, 2000);
  assert.equal(loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2147483647' }, {}, 2).maxConcurrentTransforms, 2_147_483_647);
  assert.throws(() => loadSettings({ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '2147483648' }), /SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="2147483648" is invalid/);
});

test('SAGEMAKER_MAX_PAYLOAD_IN_MB=0 (a transform job with MaxPayloadInMB=0, payloads of any size) starts with the largest fixed limit', () => {
  const s = loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '0', SAGEMAKER_BATCH: 'true' }, {}, 2);
  assert.equal(s.maxPayloadMb, 100);
  assert.throws(() => loadSettings({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '-1' }), /SAGEMAKER_MAX_PAYLOAD_IN_MB/);
});

test('an invalid SAGEMAKER_CONTAINER_LOG_LEVEL is refused also when SMKIT_LOG_LEVEL, which wins, is set', () => {
  assert.equal(loadSettings({ SMKIT_LOG_LEVEL: 'warn', SAGEMAKER_CONTAINER_LOG_LEVEL: '10' }, {}, 4).logLevel, 'warn');
  assert.throws(
    () => loadSettings({ SMKIT_LOG_LEVEL: 'warn', SAGEMAKER_CONTAINER_LOG_LEVEL: 'verbose' }, {}, 4),
    (err: unknown) => err instanceof ToolkitError && err.code === 'ERR_CONFIG_INVALID' && /^SAGEMAKER_CONTAINER_LOG_LEVEL="verbose" is invalid/.test(err.message),
  );
});
