import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { serveIdentityModel, type InProcessApp } from '../helpers/in-process-app.js';

/** A supertest parser that keeps the body as bytes. */
function asBytes(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const stream = res as unknown as NodeJS.ReadableStream;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const PREFIX = 'application/vnd.sagemaker-triton.binary+json;json-header-size=';

/** As tritonclient's generate_request_body: the JSON request, then each binary input's bytes in order. */
function tritonBody(json: object, ...binaries: Buffer[]): { body: Buffer; contentType: string } {
  const head = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([head, ...binaries]), contentType: `${PREFIX}${head.length}` };
}

/** As AWS's examples read an answer: json-header-size from the Content-Type, then parse_response_body. */
function parseAnswer(contentType: string, body: Buffer): { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[] }[]; bytes: Record<string, Buffer> } {
  assert.ok(contentType.startsWith(PREFIX), contentType);
  const headerLength = Number(contentType.slice(PREFIX.length));
  const result = JSON.parse(body.subarray(0, headerLength).toString()) as { outputs: { name: string; datatype: string; shape: number[]; parameters?: { binary_data_size?: number } }[] };
  const bytes: Record<string, Buffer> = {};
  let at = headerLength;
  for (const o of result.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size !== undefined) bytes[o.name] = body.subarray(at, (at += size));
  }
  assert.equal(at, body.length);
  return { outputs: result.outputs, bytes };
}

describe("Triton's binary tensor data form over HTTP (identity ONNX model: FP32, INT64, BYTES)", () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel([
      { name: 'x', dtype: 'float32', rank: 2 },
      { name: 'ids', dtype: 'int64' },
      { name: 'text', dtype: 'string' },
    ]);
  });
  after(async () => {
    await served?.close();
  });

  const fp32 = Buffer.alloc(8);
  fp32.writeFloatLE(1.5, 0);
  fp32.writeFloatLE(-0.25, 4);
  const int64 = Buffer.alloc(8);
  int64.writeBigInt64LE(-9007199254740993n);
  const text = Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('hi'), Buffer.from([3, 0, 0, 0]), Buffer.from('éa')]);
  const inputs = [
    { name: 'x', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
    { name: 'ids', shape: [1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
    { name: 'text', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: text.length } },
  ];

  const post = (body: Buffer, contentType: string, accept?: string) => {
    const r = request(served.app).post('/invocations').set('Content-Type', contentType);
    if (accept) r.set('Accept', accept);
    // superagent would write a Buffer as JSON for a +json type: send the bytes as they are.
    return r.serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(body);
  };

  test('no outputs named (tritonclient then sets binary_data_output): every output comes back as binary data, Accept ignored as Triton does', async () => {
    const { body, contentType } = tritonBody({ inputs, parameters: { binary_data_output: true } }, fp32, int64, text);
    const res = await post(body, contentType, 'text/csv').expect(200);
    const answer = parseAnswer(res.headers['content-type']!, res.body as Buffer);
    assert.deepEqual(answer.bytes['x_out'], fp32);
    assert.deepEqual(answer.bytes['ids_out'], int64);
    assert.deepEqual(answer.bytes['text_out'], text);
    assert.deepEqual(
      answer.outputs.map((o) => [o.name, o.datatype, o.shape]),
      [['x_out', 'FP32', [1, 2]], ['ids_out', 'INT64', [1]], ['text_out', 'BYTES', [2]]],
    );
  });

  test('binary_data per requested output; one asked as JSON comes back as "data"; none as binary gives application/json', async () => {
    const outputs = [{ name: 'ids_out', parameters: { binary_data: true } }, { name: 'x_out', parameters: { binary_data: false } }];
    const { body, contentType } = tritonBody({ id: 'r1', inputs, outputs }, fp32, int64, text);
    const res = await post(body, contentType).expect(200);
    const answer = parseAnswer(res.headers['content-type']!, res.body as Buffer);
    assert.deepEqual(answer.outputs.map((o) => o.name), ['ids_out', 'x_out']);
    assert.deepEqual(answer.bytes['ids_out'], int64);
    assert.deepEqual(answer.outputs[1]!.data, [1.5, -0.25]);

    const plain = tritonBody({ inputs, outputs: [{ name: 'x_out' }] }, fp32, int64, text);
    const json = await post(plain.body, plain.contentType).expect(200);
    assert.equal(json.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse((json.body as Buffer).toString()).outputs, [{ name: 'x_out', shape: [1, 2], datatype: 'FP32', data: [1.5, -0.25] }]);
  });

  test('a plain application/json v2 request asking for a binary output gets the binary form, as Triton answers it', async () => {
    // Triton's own SageMaker test (test_inference_client_generated_response_binary): JSON inputs, OUTPUT0 binary, OUTPUT1 JSON.
    const body = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1.5, -0.25] }, { name: 'ids', shape: [1], datatype: 'INT64', data: [5] }, { name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }],
        outputs: [{ name: 'x_out', parameters: { binary_data: true } }, { name: 'ids_out', parameters: { binary_data: false } }],
      }),
    );
    const res = await post(body, 'application/json').expect(200);
    const answer = parseAnswer(res.headers['content-type']!, res.body as Buffer);
    assert.deepEqual(answer.bytes['x_out'], fp32);
    assert.deepEqual(answer.outputs[1]!.data, [5]);
    // Without binary outputs asked for, the JSON answer is as before.
    const plain = await post(Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1.5, -0.25] }, { name: 'ids', shape: [1], datatype: 'INT64', data: [5] }, { name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }], outputs: [{ name: 'ids_out' }] })), 'application/json').expect(200);
    assert.match(plain.headers['content-type']!, /^application\/json/);
  });

  test('a v2 JSON request whose Accept names only the binary form is answered as Triton answers it, not 406; other requests get a 406 saying why', async () => {
    const v2 = { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1.5, -0.25] }, { name: 'ids', shape: [1], datatype: 'INT64', data: [5] }, { name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }] };
    const binaryAccept = 'application/vnd.sagemaker-triton.binary+json';
    // Binary outputs asked for: the binary form, as for any Accept.
    const asked = await post(Buffer.from(JSON.stringify({ ...v2, outputs: [{ name: 'x_out', parameters: { binary_data: true } }] })), 'application/json', binaryAccept).expect(200);
    assert.deepEqual(parseAnswer(asked.headers['content-type']!, asked.body as Buffer).bytes['x_out'], fp32);
    // None asked for: Triton's plain v2 JSON answer (Triton ignores Accept), also with a q and a parameter on the range.
    for (const accept of [binaryAccept, `${binaryAccept};json-header-size=0;q=0.5`]) {
      const plain = await post(Buffer.from(JSON.stringify({ ...v2, outputs: [{ name: 'ids_out' }] })), 'application/json', accept).expect(200);
      assert.equal(plain.headers['content-type'], 'application/json', accept);
      assert.deepEqual(JSON.parse((plain.body as Buffer).toString()).outputs, [{ name: 'ids_out', shape: [1], datatype: 'INT64', data: [5] }]);
    }
    // q=0 refuses it, as it refuses any type.
    await post(Buffer.from(JSON.stringify(v2)), 'application/json', `${binaryAccept};q=0`).expect(406);
    // A request of another protocol has no answer in the v2 form: a 406 that says so, with the TF Serving "error" member.
    const tfs = await post(Buffer.from(JSON.stringify({ inputs: { x: [[1, 2]], ids: [1], text: ['a'] } })), 'application/json', binaryAccept).expect(406);
    const err = JSON.parse((tfs.body as Buffer).toString()) as { code: string; message: string; error: string };
    assert.equal(err.code, 'ERR_NOT_ACCEPTABLE');
    assert.match(err.message, /answers Open Inference Protocol v2 requests .* only; send a v2 request, or accept one of: application\/json/);
    assert.equal(err.error, err.message);
  });

  test('BYTES elements that are not UTF-8 come back through the identity model as the bytes sent', async () => {
    const binary = Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.of(0xff, 0xfe, 0x80), Buffer.from([3, 0, 0, 0]), Buffer.from('éa')]);
    const bytesInputs = inputs.map((i) => (i.name === 'text' ? { ...i, parameters: { binary_data_size: binary.length } } : i));
    const { body, contentType } = tritonBody({ inputs: bytesInputs, outputs: [{ name: 'text_out', parameters: { binary_data: true } }] }, fp32, int64, binary);
    const res = await post(body, contentType).expect(200);
    assert.deepEqual(parseAnswer(res.headers['content-type']!, res.body as Buffer).bytes['text_out'], binary);
  });

  test('"classification": k on an output answers its top k as "<value>:<index>" strings (Triton\'s classification extension)', async () => {
    const body = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1.5, -0.25] }, { name: 'ids', shape: [3], datatype: 'INT64', data: [4, 9, 1] }, { name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }],
        outputs: [{ name: 'x_out', parameters: { classification: 1 } }, { name: 'ids_out', parameters: { classification: 2 } }],
      }),
    );
    const res = await post(body, 'application/json').expect(200);
    assert.deepEqual(JSON.parse((res.body as Buffer).toString()).outputs, [
      { name: 'x_out', shape: [1, 1], datatype: 'BYTES', data: ['1.500000:0'] },
      { name: 'ids_out', shape: [2], datatype: 'BYTES', data: ['9:1', '4:0'] },
    ]);
  });

  test('hostile bodies are 400s with the v2 {"error"} member, and the server goes on serving', async () => {
    const { body, contentType } = tritonBody({ inputs }, fp32, int64, text);
    const cases: [Buffer, string, RegExp][] = [
      [body, 'application/vnd.sagemaker-triton.binary+json', /needs the json-header-size parameter/],
      [body, `${PREFIX}None`, /json-header-size=None is not a byte count/],
      [body, `${PREFIX}-1`, /json-header-size=-1 is not a byte count/],
      [body, `${PREFIX}${body.length + 1}`, /more than the body's/],
      [body.subarray(0, body.length - 2), contentType, /input 'text': binary_data_size 13 runs past the end of the body/],
      [Buffer.concat([body, Buffer.of(0)]), contentType, /1 bytes follow the JSON header/],
      [tritonBody({ inputs: [{ name: 'x', shape: [1e9, 1e9], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }, fp32).body, `${PREFIX}${JSON.stringify({ inputs: [{ name: 'x', shape: [1e9, 1e9], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }).length}`, /needs [\d.e+]+ bytes/],
    ];
    for (const [b, type, message] of cases) {
      const res = await post(b, type).expect(400);
      assert.match(res.headers['content-type']!, /^application\/json/);
      const answer = JSON.parse((res.body as Buffer).toString()) as { code: string; error: string };
      assert.equal(answer.code, 'ERR_JSON_PARSE', type);
      assert.match(answer.error, message);
    }
    await post(body, contentType).expect(200);
  });

  test("json-header-size=0 (Triton's raw request) to a model of three inputs is a 400 saying what it needs", async () => {
    const res = await post(fp32, `${PREFIX}0`).expect(400);
    assert.match(JSON.parse((res.body as Buffer).toString()).error, /json-header-size=0 \(Triton's raw request.*needs a model of exactly one input/);
  });
});

describe("Triton's raw request (json-header-size=0) over HTTP (identity ONNX model of one FP32 input [d0, d1])", () => {
  let served: InProcessApp;
  before(async () => {
    served = await serveIdentityModel([{ name: 'x', dtype: 'float32', rank: 2 }]);
  });
  after(async () => {
    await served?.close();
  });

  test('the body is the input\'s data, a batch of one, and the output comes back as binary data', async () => {
    const data = Buffer.alloc(12);
    [1.5, -0.25, 3].forEach((v, i) => data.writeFloatLE(v, 4 * i));
    const res = await request(served.app).post('/invocations').set('Content-Type', `${PREFIX}0`).serialize((b: unknown) => b as string).buffer(true).parse(asBytes).send(data).expect(200);
    const answer = parseAnswer(res.headers['content-type']!, res.body as Buffer);
    assert.deepEqual(answer.outputs.map((o) => [o.name, o.datatype, o.shape]), [['x_out', 'FP32', [1, 3]]]);
    assert.deepEqual(answer.bytes['x_out'], data);
  });
});
