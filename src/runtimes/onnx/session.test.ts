// Loading an ONNX model file that is broken on disk: the refusal says what is wrong with the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToolkitError } from '../../errors/catalogue.js';
import { loadOnnxModel } from './session.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('a model file that is a loop of links, a link to nothing, a directory, empty, a FIFO or a device is ERR_MODEL_LOAD saying so and what to do, not ONNX Runtime\'s "system error number 40"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-onnx-file-'));
  const writers: ChildProcess[] = [];
  try {
    const cases: [string, () => void, RegExp][] = [
      ['loop.onnx', () => symlinkSync('loop.onnx', path.join(dir, 'loop.onnx')), /a symbolic link that leads back to itself \(a loop of links, ELOOP\); point it at the model file$/],
      ['dangling.onnx', () => symlinkSync('/nonexistent/m.onnx', path.join(dir, 'dangling.onnx')), /a symbolic link to \/nonexistent\/m\.onnx, which does not exist; point it at the model file/],
      ['folder.onnx', () => mkdirSync(path.join(dir, 'folder.onnx')), /it is a directory, not an ONNX file; put the model file there/],
      ['empty.onnx', () => writeFileSync(path.join(dir, 'empty.onnx'), ''), /the file is empty \(0 bytes\): it was not written completely; export or copy the model again$/],
      // ONNX Runtime reads the file on the event loop: a FIFO held the process for good, /dev/zero filled its memory.
      [
        'fifo.onnx',
        () => {
          execFileSync('mkfifo', [path.join(dir, 'fifo.onnx')]);
          // A writer waiting on it: were the FIFO opened, it would read an empty file and fail, not hang the test.
          writers.push(spawn('sh', ['-c', 'exec 3>"$0"', path.join(dir, 'fifo.onnx')], { stdio: 'ignore' }));
        },
        /it is not a regular file \(a FIFO, a device or a socket\)/,
      ],
      ['zero.onnx', () => symlinkSync('/dev/zero', path.join(dir, 'zero.onnx')), /it is not a regular file \(a FIFO, a device or a socket\)/],
    ];
    for (const [name, make, why] of cases) {
      make();
      const file = path.join(dir, name);
      await assert.rejects(loadOnnxModel(file, { devices: ['cpu'], intraOpThreads: 1, workerIndex: 0, log: quiet }), (err: unknown) => {
        assert.ok(err instanceof ToolkitError && err.code === 'ERR_MODEL_LOAD', String(err));
        assert.ok(err.message.startsWith(`cannot load ONNX model ${file}: `), err.message);
        assert.match(err.message, why);
        return true;
      });
    }
  } finally {
    for (const writer of writers) writer.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
