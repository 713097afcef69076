import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'interruptible.js');

/**
 * A process that runs work until interrupted, then cleans up for a while (writing `cleaned` when
 * done), and says `ready` once its listeners are on. Resolves with how it ended and whether it cleaned up.
 */
function interruptedTwice(gapMs: number): Promise<{ signal: NodeJS.Signals | null; code: number | null; cleaned: boolean; stderr: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smkit-interruptible-'));
  const script = `
    import { writeFileSync } from 'node:fs';
    const { runInterruptibly } = await import(${JSON.stringify(MODULE)});
    await runInterruptibly(
      (signal) => new Promise((_, reject) => {
        const alive = setTimeout(() => undefined, 120_000);
        signal.addEventListener('abort', () => (clearTimeout(alive), reject(signal.reason)));
        console.log('ready');
      }),
      async () => { console.log('cleaning'); await new Promise((r) => setTimeout(r, 500)); writeFileSync(${JSON.stringify(path.join(dir, 'cleaned'))}, ''); },
    ).catch(() => undefined);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const before = stdout;
      stdout += d.toString();
      if (!before.includes('ready') && stdout.includes('ready')) {
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), gapMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const cleaned = existsSync(path.join(dir, 'cleaned'));
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, cleaned, stderr });
    });
  });
}

test('one Ctrl-C that arrives twice at once (the terminal\'s SIGINT and the copy npx forwards) still cleans up, then ends the process as SIGINT does', async () => {
  // Before, the copy took SIGINT's default action: the process died before it removed what it made.
  const ended = await interruptedTwice(100);
  assert.equal(ended.signal, 'SIGINT', `exit code ${ended.code}: ${ended.stderr}`);
  assert.equal(ended.cleaned, true, 'the clean-up ran to its end');
});
