/**
 * The benchmark's baseline: a bare `node:http` cluster that runs the same ONNX model inline on the
 * event loop with a naive split-and-parse CSV codec — what a quick hand-written server does.
 * Usage: node dist/bench/baseline-server.js <model.onnx> <port> <workers>
 */
import cluster from 'node:cluster';
import http from 'node:http';
import os from 'node:os';
import * as ort from 'onnxruntime-node';

const [modelPath, portArg, workersArg] = process.argv.slice(2);
const port = Number(portArg);
const workers = Number(workersArg ?? 1);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  // The cores shared among the workers, as smkit's SMKIT_INTRA_OP_THREADS default does.
  const session = await ort.InferenceSession.create(modelPath!, { intraOpNumThreads: Math.max(1, Math.floor(os.availableParallelism() / workers)) });
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  http
    .createServer((req, res) => {
      if (req.url === '/ping') {
        res.end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const rows = Buffer.concat(chunks)
          .toString('utf8')
          .trim()
          .split('\n')
          .map((line) => line.split(',').map(Number));
        const width = rows[0]!.length;
        const result = await session.run({ [input]: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]) });
        const t = result[output]!;
        const cols = t.dims[1]!;
        const data = Array.from(t.data as Float32Array);
        const out: number[][] = [];
        for (let i = 0; i < data.length; i += cols) out.push(data.slice(i, i + cols));
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(out));
      });
    })
    .listen(port, '127.0.0.1');
}
