// CreateModel's limit on the Environment maps together (ContainerDefinition.Environment in the
// SageMaker API reference): 32 KB of keys and values, across all the containers of one request.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { FakeBackend } from '../../../test/helpers/fake-backend.js';
import { createFrontDoor } from '../front-door/app.js';
import { createLocalSageMaker } from './local-sagemaker.js';

const sm = await createLocalSageMaker({ backendImpl: new FakeBackend(), startupTimeoutMs: 2_000, alarmsAndScaling: false, settings: {} });

describe('CreateModel: Environment size', () => {
  after(() => sm.stop());
  const app = createFrontDoor({ endpoints: sm.directory(), services: sm.services });
  const createModel = (input: Record<string, unknown>) =>
    request(app).post('/').set('X-Amz-Target', 'SageMaker.CreateModel').set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify(input));

  /** `count` variables `<prefix>00`, `<prefix>01`, ... whose keys and values take `bytesEach` bytes each. */
  const environment = (prefix: string, count: number, bytesEach: number): Record<string, string> =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${String(i).padStart(2, '0')}`, 'x'.repeat(bytesEach - prefix.length - 2)]));

  test('one container: 32768 bytes of keys and values are taken, one byte more is a ValidationException', async () => {
    const full = environment('V', 32, 1024);
    const ok = await createModel({ ModelName: 'env-full', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: full } });
    assert.equal(ok.status, 200, ok.text);

    const over = { ...full, V00: `${full['V00']}x` };
    const refused = await createModel({ ModelName: 'env-over', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: over } });
    assert.equal(refused.status, 400, refused.text);
    assert.equal((JSON.parse(refused.text) as { __type?: string }).__type, 'ValidationException');
    assert.match(refused.text, /32769 bytes/);
    assert.match(refused.text, /at most 32 KB \(32768 bytes\) in all the Environment maps of one CreateModel request, combined: move large values into the model data/);
    const described = await request(app).post('/').set('X-Amz-Target', 'SageMaker.DescribeModel').set('Content-Type', 'application/x-amz-json-1.1').send('{"ModelName":"env-over"}');
    assert.equal(described.status, 400, 'the refused model was not created');
  });

  test('the limit is on all the containers of the request together: two maps of 16 KB and one byte each are refused', async () => {
    const half = environment('A', 16, 1024);
    const other = { ...environment('B', 16, 1024), B00: `${environment('B', 1, 1024)['B00']}x` };
    const containers = [
      { ContainerHostname: 'first', Image: 'repo/img:1', ModelDataUrl: '/models/a', Environment: half },
      { ContainerHostname: 'second', Image: 'repo/img:1', ModelDataUrl: '/models/b', Environment: other },
    ];
    const refused = await createModel({ ModelName: 'env-pipeline', Containers: containers });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.text, /2 containers hold 32769 bytes/);

    const fits = await createModel({ ModelName: 'env-pipeline', Containers: [containers[0], { ...containers[1], Environment: environment('B', 16, 1024) }] });
    assert.equal(fits.status, 200, fits.text);
  });

  test('a key or value past ASCII counts its UTF-8 bytes', async () => {
    // 31 full entries (31744 bytes), then Z with 511 two-byte characters (1023 bytes more: 32767)
    // fits; with 512 of them (1025 bytes more: 32769), each value still within its 1024 bytes, not.
    const base = environment('C', 31, 1024);
    const ok = await createModel({ ModelName: 'env-utf8-ok', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: { ...base, Z: 'é'.repeat(511) } } });
    assert.equal(ok.status, 200, ok.text);
    const refused = await createModel({ ModelName: 'env-utf8-over', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: { ...base, Z: 'é'.repeat(512) } } });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.text, /32769 bytes/);
  });

  test('each value may take 1024 bytes, counted in UTF-8 as AWS states, not in JavaScript string length', async () => {
    const model = (name: string, value: string) => createModel({ ModelName: name, PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: { V: value } } });
    // Two, three and four bytes a character: 1024 bytes or fewer are taken, whatever their JavaScript length.
    for (const [i, value] of ['é'.repeat(512), '€'.repeat(341), '😀'.repeat(256)].entries()) {
      const ok = await model(`value-fits-${i}`, value);
      assert.equal(ok.status, 200, ok.text);
    }
    // 513, 342 and 514 long in JavaScript (within 1024), but 1026, 1026 and 1028 bytes.
    for (const [i, value] of ['é'.repeat(513), '€'.repeat(342), '😀'.repeat(257)].entries()) {
      const refused = await model(`value-over-${i}`, value);
      assert.equal(refused.status, 400, refused.text);
      assert.equal((JSON.parse(refused.text) as { __type?: string }).__type, 'ValidationException');
      assert.match(refused.text, /^\{"__type":"ValidationException","message":"1 validation error detected: Value '.*' at 'primaryContainer\.environment' failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length less than or equal to 1024 bytes \(UTF-8\), Member must have length greater than or equal to 0 bytes \(UTF-8\), Member must satisfy regular expression pattern: \[\\\\S\\\\s\]\*\]"\}$/);
    }
  });

  test('a value holding a NUL character, which no process environment can carry, is refused naming the container and the variable', async () => {
    const primary = await createModel({ ModelName: 'env-nul', PrimaryContainer: { Image: 'repo/img:1', ModelDataUrl: '/models/m', Environment: { FINE: 'x', BAD: 'a\u0000b' } } });
    assert.equal(primary.status, 400, primary.text);
    assert.equal((JSON.parse(primary.text) as { message?: string }).message, 'PrimaryContainer.Environment value of BAD holds a NUL character (\\u0000), which no process environment can carry: remove it.');
    const second = await createModel({
      ModelName: 'env-nul-pipeline',
      Containers: [
        { Image: 'repo/img:1', ModelDataUrl: '/models/a', Environment: { FINE: 'x' } },
        { Image: 'repo/img:1', ModelDataUrl: '/models/b', Environment: { LAST: '\u0000' } },
      ],
    });
    assert.equal(second.status, 400, second.text);
    assert.match(second.text, /^\{"__type":"ValidationException","message":"Containers\.2\.Environment value of LAST holds a NUL character/);
    for (const name of ['env-nul', 'env-nul-pipeline']) {
      const described = await request(app).post('/').set('X-Amz-Target', 'SageMaker.DescribeModel').set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify({ ModelName: name }));
      assert.equal(described.status, 400, `${name} was not created`);
    }
  });
});
