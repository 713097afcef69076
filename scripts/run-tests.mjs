#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with Node's built-in test runner, a few
// processes at a time: each file in its own process, except short files that change nothing
// process-wide at their top level, which share a process a handful at a time.
//
// Files start longest first, by scripts/test-durations.json (seconds each file took): `node --test`
// sorts the files by path, which started the slowest end-to-end files last, so a run ended with one
// long file going while the other lanes sat idle. A file missing from the list counts as a short one.
//
// A process costs about 0.15 s of CPU to start Node and its test runner, and each file loads its
// own copy of the modules it tests: for the ~170 short files that was about 30 s of the run's
// CPU on a 2-vCPU VM. Those files are imported a dozen seconds' worth at a time by one process
// (tests keep their own file in the report: Node takes a test's file from where `test()` was
// called). A file stays alone when it ran longer than GROUP_FILE_MAX_S, or when its top level
// registers hooks or mocks, listens to process events, or changes process.env or the working
// directory (in a shared process those would reach the other files' tests), or when it anywhere
// counts the process's timers or handles, reads its memory use, sets its exit code or mocks timers
// (the other files' work would disturb those).
// SMKIT_TEST_GROUPING=0 runs every file alone, to tell whether a failure comes from sharing.
//
// Usage: node scripts/run-tests.mjs [--record] [substring ...]
//   substrings: only the files whose path contains one of them
//   --record:   rewrite scripts/test-durations.json with what this run measured
// SMKIT_TEST_CONCURRENCY sets how many processes run at once (default 3).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { pathToFileURL } from 'node:url';

const durationsFile = new URL('./test-durations.json', import.meta.url);
const args = process.argv.slice(2);
const record = args.includes('--record');
const filters = args.filter((a) => a !== '--record');
const concurrency = Number(process.env.SMKIT_TEST_CONCURRENCY || 3);
const grouping = process.env.SMKIT_TEST_GROUPING !== '0';
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`run-tests: SMKIT_TEST_CONCURRENCY must be a whole number of at least 1, got "${process.env.SMKIT_TEST_CONCURRENCY}"`);
  process.exit(1);
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** `dist/test/e2e/x.test.js` → `test/e2e/x`: the key in test-durations.json. */
const keyOf = (file) => file.replace(/^dist[\\/]/, '').replace(/\.test\.js$/, '').split('\\').join('/');

const durations = JSON.parse(readFileSync(durationsFile, 'utf8'));
const selected = walk('dist', []).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}

/** Files that ran longer than this (seconds, by test-durations.json) keep a process of their own. */
const GROUP_FILE_MAX_S = 8;
/** A shared process holds files of about this many recorded seconds in all. */
const GROUP_TARGET_S = 12;
// Top-level statements whose effect would outlive the file in a shared process: root hooks run
// around every file's tests, and mocks, environment and working directory are the process's.
const PROCESS_WIDE = /^(before|after|beforeEach|afterEach|mock\.|process\.(env|chdir|on|once)|globalThis\.)\b/m;
// Anywhere in a file: what measures or sets the whole process (its timers and handles, its memory,
// its exit code, its clock) or finds the file by process.argv[1], which other files' work in the
// same process would disturb (or which names the shared module).
const MEASURES_PROCESS = /\b(getActiveResourcesInfo|_getActiveHandles|_getActiveRequests|memoryUsage|cpuUsage|mock\.timers)\b|process\.(exitCode|argv\[1\])/;

const secondsOf = (file) => durations[keyOf(file)] ?? 1;
const shareable = (file) => {
  if (secondsOf(file) > GROUP_FILE_MAX_S) return false;
  const text = readFileSync(file, 'utf8');
  return !PROCESS_WIDE.test(text) && !MEASURES_PROCESS.test(text);
};

/**
 * A module that imports `members` one after another: their tests register and run in its process,
 * one file's after another's. Node starts a file's first test as it registers it, which would run it
 * while the next files' top levels are still being evaluated; a root `before` hook holds every test
 * until all members are imported.
 */
function groupFile(dir, index, members) {
  const file = join(dir, `group-${index}.mjs`);
  const imports = members.map((m) => `  await load(${JSON.stringify(pathToFileURL(resolve(m)).href)});\n`).join('');
  writeFileSync(
    file,
    `import { before } from 'node:test';\n` +
      `// A member that does not load fails this process's run, naming the file; the others still run.\n` +
      `const failed = [];\n` +
      `const load = (url) => import(url).catch((err) => failed.push(\`\${url} did not load: \${err?.stack ?? err}\`));\n` +
      `let release;\nconst imported = new Promise((resolve) => (release = resolve));\nbefore(() => imported);\n` +
      `${imports}release();\n` +
      `if (failed.length > 0) throw new Error(failed.join('\\n'));\n`,
  );
  return file;
}

/** Each shared process's module → the files it imports. */
const groups = new Map();

/** Every process to start, with its recorded seconds: lone files, and groups of short shareable ones. */
function plan() {
  const isShared = new Set(grouping ? selected.filter(shareable) : []);
  const alone = selected.filter((f) => !isShared.has(f));
  const shared = [...isShared].sort();
  const entries = alone.map((file) => ({ file, seconds: secondsOf(file) }));
  if (shared.length < 2) return { entries: [...entries, ...shared.map((file) => ({ file, seconds: secondsOf(file) }))] };
  const dir = mkdtempSync(join(tmpdir(), 'smkit-test-groups-'));
  let members = [];
  let seconds = 0;
  const close = () => {
    const file = groupFile(dir, entries.length, members);
    groups.set(file, members);
    entries.push({ file, seconds });
    members = [];
    seconds = 0;
  };
  for (const file of shared) {
    members.push(file);
    seconds += secondsOf(file);
    if (seconds >= GROUP_TARGET_S) close();
  }
  if (members.length > 0) close();
  return { entries, dir };
}

const { entries, dir: groupDir } = plan();
const files = entries.sort((a, b) => b.seconds - a.seconds || a.file.localeCompare(b.file)).map((e) => e.file);
// Where test/helpers/serve-process.ts notes the ports it hands out, for this run's processes only:
// removed with the run, as the group modules are, so nothing of it outlasts the run.
const portsDir = join(tmpdir(), 'smkit-test-ports');
{
  const removeRunFiles = () => {
    rmSync(portsDir, { recursive: true, force: true });
    if (groupDir) rmSync(groupDir, { recursive: true, force: true });
  };
  process.on('exit', removeRunFiles);
  // A run stopped by a signal (Ctrl-C) has no 'exit' event: remove the folder, then end as the signal
  // would, unless another listener (a newer Node's test runner) handles the signal itself.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      removeRunFiles();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

// ONNX Runtime's telemetry stays off in tests that load it themselves (smkit turns it off on its own,
// and test/e2e/onnx-telemetry.test.ts checks that without this variable).
process.env.ORT_DISABLE_TELEMETRY ||= '1';

const measured = new Map();
const stream = run({ files, concurrency });
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1;
  // A shared process that failed as a whole (a member that did not load, an error no test caught,
  // an exit status): its module is gone once the run ends, so say which files it held.
  const members = data.file && groups.get(data.file);
  if (members) console.error(`run-tests: ${data.file} failed; it ran ${members.join(', ')} (SMKIT_TEST_GROUPING=0 runs each file alone)`);
});
if (record) {
  for (const event of ['test:pass', 'test:fail']) {
    stream.on(event, (data) => {
      if (data.nesting !== 0 || !data.file) return;
      const path = relative(process.cwd(), data.file);
      // A failure of a shared process itself (a member that would not load) names its group module.
      if (!path.startsWith('dist')) return;
      const key = keyOf(path);
      measured.set(key, (measured.get(key) ?? 0) + (data.details?.duration_ms ?? 0) / 1000);
    });
  }
  stream.on('end', () => {
    const merged = { ...durations };
    for (const [key, seconds] of measured) merged[key] = Math.max(1, Math.round(seconds));
    const sorted = Object.entries(merged).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    writeFileSync(durationsFile, `${JSON.stringify(Object.fromEntries(sorted), null, 2)}\n`);
  });
}
stream.compose(new spec()).pipe(process.stdout);
