/**
 * Codec exactness over real HTTP, through a handler that answers the decoded tensors unchanged:
 * Accept q-values outside RFC 9110's grammar, numpy's NPY header limit, v2 int64 values past 2^53
 * and v2 NaN/Infinity.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { RequestListener } from 'node:http';
import request from 'supertest';
import { REPO_ROOT } from '../../test/helpers/serve-process.js';
import { serveModelInProcess, type InProcessApp } from '../../test/helpers/in-process-app.js';

const modelDir = path.join(REPO_ROOT, 'test/fixtures/handlers/tensor-echo');
let served: InProcessApp;
let app: RequestListener;

describe('codec exactness', () => {
  before(async () => {
    served = await serveModelInProcess(modelDir, { maxPayloadMb: 6, timeoutSeconds: 60, debug: false, maxConcurrentTransforms: 1, batchStrategy: 'MULTI_RECORD' });
    app = served.app;
  });

  after(async () => {
    await served?.close();
  });

  /** POSTs to /invocations and reads the answer as text, whatever its type (supertest's JSON parser refuses `NaN`). */
  const invoke = async (contentType: string, body: string | Buffer, accept?: string): Promise<{ status: number; text: string; headers: Record<string, string>; error: () => { code: string; message: string } }> => {
    // As sent: superagent would write a Buffer under a JSON type as JSON ({"type":"Buffer",...}).
    const req = request(app).post('/invocations').set('Content-Type', contentType).serialize((b: unknown) => b as string);
    if (accept !== undefined) req.set('Accept', accept);
    const res = await req
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks).toString()));
      })
      .send(body);
    const text = res.body as string;
    return { status: res.status, text, headers: res.headers as Record<string, string>, error: () => JSON.parse(text) as { code: string; message: string } };
  };

  test('Accept: a q outside the qvalue grammar is ignored (q=1), whether not a number, negative or past 1; more decimals are read', async () => {
    for (const bad of ['abc', '-1', '2']) {
      const res = await invoke('application/json', '[[1.5, 2]]', `application/json;q=0.9, text/csv;q=${bad}`);
      assert.equal(res.status, 200, `q=${bad}: ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /^text\/csv/, `q=${bad}`);
      assert.equal(res.text.trim(), '1.5,2');
    }
    // A valid q=0 still excludes the lone type it names.
    const none = await invoke('application/json', '[1]', 'text/csv;q=0');
    assert.equal(none.status, 406);
    // More than three decimals are read: q=0.0001 ranks CSV below q=0.9, and q=0.0000 excludes it.
    const low = await invoke('application/json', '[[1.5, 2]]', 'application/json;q=0.9, text/csv;q=0.0001');
    assert.equal(low.status, 200, low.text);
    assert.match(low.headers['content-type'] ?? '', /^application\/json/);
    assert.equal((await invoke('application/json', '[1]', 'text/csv;q=0.0000')).status, 406);
  });

  /** An NPY 1.0 float32 [2] file whose header is `chars` characters long. */
  const npyWithHeader = (chars: number): Buffer => {
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    const header = Buffer.from(`${dict}${' '.repeat(chars - dict.length - 1)}\n`, 'latin1');
    const preamble = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    preamble.writeUInt16LE(header.length, 8);
    return Buffer.concat([preamble, header, Buffer.from(new Float32Array([1.5, -2]).buffer)]);
  };

  test("NPY: a header of 10 000 characters is read; one more is a 400 naming numpy's max_header_size", async () => {
    const ok = await invoke('application/x-npy', npyWithHeader(10_000), 'application/json');
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(JSON.parse(ok.text), [1.5, -2]);
    const long = await invoke('application/x-npy', npyWithHeader(10_001), 'application/json');
    assert.equal(long.status, 400);
    assert.equal(long.error().code, 'ERR_NPY_PARSE');
    assert.match(long.error().message, /header is 10001 characters long, more than the 10 000 np\.load reads by default \(numpy's max_header_size\)/);
  });

  test('v2 INT64/UINT64 past ±2^53: integer literals are read and answered exactly, as Triton does (application/json and the binary form)', async () => {
    const json = '{"id":"big","inputs":[{"name":"i","shape":[3],"datatype":"INT64","data":[9007199254740993,-9223372036854775808,7]},{"name":"u","shape":[1],"datatype":"UINT64","data":[18446744073709551615]}]}';
    for (const contentType of ['application/json', `application/vnd.sagemaker-triton.binary+json;json-header-size=${Buffer.byteLength(json)}`]) {
      const res = await invoke(contentType, json);
      assert.equal(res.status, 200, res.text);
      const text = res.text;
      assert.match(text, /"name":"i","shape":\[3\],"datatype":"INT64","data":\[9007199254740993,-9223372036854775808,7\]/, contentType);
      assert.match(text, /"name":"u","shape":\[1\],"datatype":"UINT64","data":\[18446744073709551615\]/, contentType);
    }
    const inexact = await invoke('application/json', '{"inputs":[{"name":"i","shape":[1],"datatype":"INT64","data":[9e18]}]}');
    assert.equal(inexact.status, 400);
    assert.equal(inexact.error().code, 'ERR_JSON_PARSE');
    assert.match(inexact.error().message, /exact: past ±2\^53 written as plain digits/);
  });

  test('v2 NaN and ±Infinity: answered as the tokens NaN, Infinity, -Infinity (as Triton writes them) and read back; null is a 400', async () => {
    const json = '{"inputs":[{"name":"f","shape":[4],"datatype":"FP32","data":[NaN,Infinity,-Infinity,1.5]},{"name":"h","shape":[2],"datatype":"FP16","data":[-Infinity,NaN]}]}';
    const res = await invoke('application/json', json);
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, /"name":"f","shape":\[4\],"datatype":"FP32","data":\[NaN,Infinity,-Infinity,1\.5\]/);
    assert.match(res.text, /"name":"h","shape":\[2\],"datatype":"FP16","data":\[-Infinity,NaN\]/);
    // The answer is a request again.
    const again = await invoke('application/json', `{"inputs":${res.text.slice(res.text.indexOf('"outputs":') + 10, -1)}}`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.text, res.text);
    const nulls = await invoke('application/json', '{"inputs":[{"name":"f","shape":[1],"datatype":"FP64","data":[null]}]}');
    assert.equal(nulls.status, 400);
    assert.match(nulls.error().message, /data\[0\] is null but datatype FP64 needs numbers \(NaN and ±Infinity as the bare tokens NaN, Infinity and -Infinity/);
  });

  test('TF Serving and v2: a number past the largest double (1e400), which JSON.parse makes infinite, is a 400 as TF Serving and Triton refuse it; the Infinity tokens and plain JSON arrays still pass', async () => {
    const binaryJson = '{"inputs":[{"name":"f","shape":[1],"datatype":"FP32","data":[1e999]},{"name":"b","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}';
    const infBits = Buffer.from(Float32Array.of(Infinity).buffer);
    const refused: [string, string | Buffer, RegExp][] = [
      ['application/json', '{"inputs":[{"name":"f","shape":[2],"datatype":"FP32","data":[Infinity,1e400]}]}', /the number 1e400 at line 1, column 71 \(position 70\) is past the largest double .* send the token Infinity/],
      ['application/json', '{"inputs":[{"name":"h","shape":[1],"datatype":"FP16","data":[-1e400]}]}', /the number -1e400 .* send the token -Infinity/],
      ['application/json', '{"inputs":[{"name":"d","shape":[2],"datatype":"FP64","data":[1\n,\n2E+308]}]}', /the number 2E\+308 at line 3, column 1 /],
      // The fast path reads a numeric {"instances"} array; a NaN token sends the body through the lenient parse.
      ['application/json', '{"instances":[[1,1e400]]}', /the number 1e400 /],
      ['application/json', '{"inputs":{"x":[NaN,-1e400]}}', /the number -1e400 /],
      ['application/json', `{"inputs":[{"name":"f","shape":[1],"datatype":"FP32","data":[${'9'.repeat(400)}]}]}`, /the number 9{40}… at line 1, .* past the largest double/],
      // 309 digits, as many as the largest double's: no sign or fraction makes the literal longer.
      ['application/json', `{"instances":[${'9'.repeat(309)}]}`, /the number 9{40}… at line 1, column 15 .* past the largest double/],
      ['application/json', `{"inputs":[{"name":"f","shape":[1],"datatype":"FP64","data":[1${'8'.repeat(308)}]}]}`, /the number 18{39}… at line 1, .* past the largest double/],
      [`application/vnd.sagemaker-triton.binary+json;json-header-size=${binaryJson.length}`, Buffer.concat([Buffer.from(binaryJson), infBits]), /the JSON header: the number 1e999 /],
    ];
    for (const [contentType, body, message] of refused) {
      const res = await invoke(contentType, body);
      assert.equal(res.status, 400, `${String(body)}: ${res.text}`);
      const error = JSON.parse(res.text) as { code: string; message: string; error: string };
      assert.equal(error.code, 'ERR_JSON_PARSE');
      assert.match(error.message, message);
      assert.equal(error.error, error.message, 'the protocols\' "error" member');
    }
    // Infinity as the tokens (and as binary data), a large number in range, and the number in a string are read.
    // The largest double also as its 309 digits, which are in range.
    const tokens = await invoke('application/json', `{"id":"1e400","inputs":[{"name":"f","shape":[4],"datatype":"FP64","data":[Infinity,-Infinity,1.7976931348623157e308,${BigInt(Number.MAX_VALUE)}]}]}`);
    assert.equal(tokens.status, 200, tokens.text);
    assert.match(tokens.text, /"data":\[Infinity,-Infinity,1\.7976931348623157e\+308,1\.7976931348623157e\+308\]/);
    const binary = `{"inputs":[{"name":"b","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}],"parameters":{"note":"1e400"}}`;
    const bin = await invoke(`application/vnd.sagemaker-triton.binary+json;json-header-size=${binary.length}`, Buffer.concat([Buffer.from(binary), infBits]));
    assert.equal(bin.status, 200, bin.text);
    assert.match(bin.text, /"data":\[Infinity\]/);
    // A plain JSON array is read as Python's json reads it (float('1e400') is inf), as the SageMaker containers do.
    const plain = await invoke('application/json', '[1e400]');
    assert.equal(plain.status, 200, plain.text);
    assert.equal(plain.text, '[null]');
  });

  test('v2 datatypes are spelt as the protocol spells them: "fp32" is a 400 naming "FP32" (Triton, KServe and MLServer refuse it), in JSON and the binary form', async () => {
    const body = (datatype: string) => JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype, data: [1.5, 2] }] });
    const ok = await invoke('application/json', body('FP32'));
    assert.equal(ok.status, 200, ok.text);
    for (const datatype of ['fp32', 'Fp32', 'bytes', 'int64']) {
      const res = await invoke('application/json', body(datatype));
      assert.equal(res.status, 400, `${datatype}: ${res.text}`);
      assert.equal(res.error().code, 'ERR_JSON_PARSE');
      assert.match(res.error().message, new RegExp(`datatype "${datatype}" is not one of .*upper case.*"${datatype.toUpperCase()}"`));
    }
    // An Object.prototype key is no datatype either.
    const proto = await invoke('application/json', body('toString'));
    assert.equal(proto.status, 400, proto.text);
    assert.doesNotMatch(proto.error().message, /upper case/);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'fp32', parameters: { binary_data_size: 8 } }] }));
    const binary = await invoke(
      `application/vnd.sagemaker-triton.binary+json;json-header-size=${header.length}`,
      Buffer.concat([header, Buffer.from(new Float32Array([1.5, 2]).buffer)]),
    );
    assert.equal(binary.status, 400, binary.text);
    assert.match(binary.error().message, /datatype "fp32" is not one of .*"FP32"/);
  });
});
