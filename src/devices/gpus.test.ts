import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cudaVisibleDevicesForWorker } from './assign.js';
import { applyCudaVisibleDevices, countGpus, detectGpus, inspectGpus, listNvidiaSmi, parseNvidiaSmiList, type GpuProbes } from './gpus.js';

const SMI_4 = [
  'GPU 0: Tesla T4 (UUID: GPU-aaaa1111-0000-0000-0000-000000000000)',
  'GPU 1: Tesla T4 (UUID: GPU-bbbb2222-0000-0000-0000-000000000000)',
  'GPU 2: Tesla T4 (UUID: GPU-cccc3333-0000-0000-0000-000000000000)',
  'GPU 3: Tesla T4 (UUID: GPU-dddd4444-0000-0000-0000-000000000000)',
  '',
].join('\n');

function probes(opts: { smi?: string; dev?: string[]; cvd?: string }): GpuProbes {
  return {
    listDevFiles: () => opts.dev ?? ['null', 'tty'],
    nvidiaSmiList: () => opts.smi,
    cudaVisibleDevices: () => opts.cvd,
  };
}

test('nvidia-smi -L lines give physical GPUs with names and UUIDs; MIG lines attach to their GPU', () => {
  const gpus = parseNvidiaSmiList(
    'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5c1b0000-aaaa)\n  MIG 1g.5gb     Device  0: (UUID: MIG-11112222)\n  MIG 1g.5gb     Device  1: (UUID: MIG-33334444)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-77770000-bbbb)\n',
  );
  assert.deepEqual(gpus.map((g) => [g.index, g.name, g.uuid]), [
    [0, 'NVIDIA A100-SXM4-40GB', 'GPU-5c1b0000-aaaa'],
    [1, 'NVIDIA A100-SXM4-40GB', 'GPU-77770000-bbbb'],
  ]);
  assert.deepEqual(gpus[0]!.migUuids, ['MIG-11112222', 'MIG-33334444']);
});

test('no nvidia-smi and no /dev/nvidiaN: no GPUs, even when CUDA_VISIBLE_DEVICES names some', () => {
  assert.deepEqual(detectGpus(probes({ cvd: '0,1' })), []);
  assert.equal(inspectGpus(probes({})).source, 'none');
});

test('device files are the fallback when nvidia-smi cannot run (control files ignored)', () => {
  const inv = inspectGpus(probes({ dev: ['nvidia1', 'nvidiactl', 'nvidia-uvm', 'nvidia0', 'nvidia-caps'] }));
  assert.equal(inv.source, 'device-files');
  assert.deepEqual(inv.physical.map((g) => g.index), [0, 1]);
  assert.deepEqual(detectGpus(probes({ dev: ['nvidia1', 'nvidia0'] })), [0, 1]);
});

test('device files of a container given some of the host\'s GPUs (docker run --gpus device=1,3, no nvidia-smi) are numbered as CUDA numbers them inside it, 0 up, not by the host\'s minor numbers', () => {
  const inv = inspectGpus(probes({ dev: ['nvidia3', 'nvidiactl', 'nvidia1'] }));
  assert.deepEqual(inv.physical.map((g) => g.index), [0, 1]);
  assert.deepEqual(inv.visible.map((g) => [g.ordinal, g.id]), [[0, '0'], [1, '1']]);
  // CUDA_VISIBLE_DEVICES=1 inside the container is its second GPU (/dev/nvidia3), not "no usable GPU".
  const second = inspectGpus(probes({ dev: ['nvidia3', 'nvidia1'], cvd: '1' }));
  assert.deepEqual(second.visible.map((g) => g.ordinal), [0]);
  assert.deepEqual(second.notes, []);
  // What a worker's child process is given names a GPU CUDA has in this container.
  assert.equal(cudaVisibleDevicesForWorker(1, inspectGpus(probes({ dev: ['nvidia3', 'nvidia1'] }))), '1');
});

test('CUDA_VISIBLE_DEVICES unset: every GPU, ordinals equal to indexes', () => {
  assert.deepEqual(detectGpus(probes({ smi: SMI_4 })), [0, 1, 2, 3]);
  assert.equal(countGpus(probes({ smi: SMI_4 })), 4);
});

test('CUDA_VISIBLE_DEVICES empty or -1 hides every GPU', () => {
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: '' })), []);
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: '  ' })), []);
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: '-1' })), []);
});

test('CUDA_VISIBLE_DEVICES renumbers the listed GPUs from 0 in the order given', () => {
  const inv = inspectGpus(probes({ smi: SMI_4, cvd: '2, 0' }));
  assert.deepEqual(inv.visible.map((g) => [g.ordinal, g.physical.index]), [[0, 2], [1, 0]]);
  assert.deepEqual(inv.notes, []);
});

test('CUDA stops at the first invalid entry: 0,2,-1,1 makes two GPUs visible and says why', () => {
  const inv = inspectGpus(probes({ smi: SMI_4, cvd: '0,2,-1,1' }));
  assert.deepEqual(inv.visible.map((g) => g.physical.index), [0, 2]);
  assert.match(inv.notes[0]!, /"-1".*"-1,1"/);
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: '1,7,2' })), [0], 'index out of range stops the list');
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: '1,1,2' })), [0], 'a repeated GPU stops the list');
});

test('UUIDs and unique UUID prefixes select GPUs; an ambiguous prefix is invalid', () => {
  const inv = inspectGpus(probes({ smi: SMI_4, cvd: 'GPU-dddd4444-0000-0000-0000-000000000000,GPU-bbbb' }));
  assert.deepEqual(inv.visible.map((g) => [g.ordinal, g.physical.index]), [[0, 3], [1, 1]]);
  assert.deepEqual(detectGpus(probes({ smi: SMI_4, cvd: 'GPU-' })), []);
});

test('MIG UUIDs resolve to their parent GPU', () => {
  const smi = 'GPU 0: A100 (UUID: GPU-aaaa)\n  MIG 1g.5gb Device 0: (UUID: MIG-1234)\nGPU 1: A100 (UUID: GPU-bbbb)\n';
  const { visible } = applyCudaVisibleDevices('MIG-1234', parseNvidiaSmiList(smi));
  assert.deepEqual(visible.map((g) => g.physical.index), [0]);
});

test('UUIDs cannot be checked from device files alone: assumed distinct, with a note', () => {
  const inv = inspectGpus(probes({ dev: ['nvidia0', 'nvidia1'], cvd: 'GPU-x,GPU-y,GPU-z' }));
  assert.deepEqual(inv.visible.map((g) => g.physical.index), [0, 1]);
  assert.ok(inv.notes.some((n) => /could not be checked/.test(n)));
});

test('an nvidia-smi that hangs ignoring SIGTERM is given up at the timeout (no GPU found), not waited for', { skip: process.platform === 'win32' && 'needs a POSIX shell' }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-fake-smi-'));
  const oldPath = process.env['PATH'];
  const finished = path.join(dir, 'finished');
  const sleeper = path.join(dir, 'sleep.pid');
  try {
    // Ignores SIGTERM and waits 30 s (its sleep off the pipe, which closes with the shell), then
    // leaves a file: SIGTERM alone left execFileSync waiting for it to finish, so the file was there.
    writeFileSync(
      path.join(dir, 'nvidia-smi'),
      `#!/bin/sh\ntrap "" TERM\nsleep 30 </dev/null >/dev/null 2>&1 &\necho $! > '${sleeper}'\nwait $!\n: > '${finished}'\n`,
    );
    chmodSync(path.join(dir, 'nvidia-smi'), 0o755);
    process.env['PATH'] = `${dir}${path.delimiter}${oldPath ?? ''}`;
    assert.equal(listNvidiaSmi(200), undefined);
    assert.equal(existsSync(finished), false, 'nvidia-smi was waited for until it finished by itself');
    writeFileSync(path.join(dir, 'nvidia-smi'), `#!/bin/sh\nprintf '%s' '${SMI_4.split('\n')[0]}'\n`);
    assert.equal(parseNvidiaSmiList(listNvidiaSmi(5000) ?? '').length, 1, 'one that answers is read');
  } finally {
    process.env['PATH'] = oldPath;
    // The stand-in's sleep outlives the shell SIGKILL ended; not once it has finished (its pid may be another's by then).
    if (!existsSync(finished) && existsSync(sleeper)) {
      // Empty if the shell was killed between the echo's open and its write: kill(0) would be this
      // process's whole group (the test runner's).
      const pid = Number(readFileSync(sleeper, 'utf8'));
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
