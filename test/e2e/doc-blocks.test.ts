// Runs the blocks of README.md, docs/*.md and opt-ml-template/README.md that are marked
// `<!-- doc-test ... -->`, the way a reader would, so the documented commands and answers stay true:
// shell blocks as they are, JavaScript blocks as a Node module, Python blocks with a python3 that has
// boto3, and a block marked file=<name> written to that file. Each group runs in one bash in a
// scratch folder that links the checkout's bin/, dist/ and node_modules/ and holds copies of models/
// and opt-ml-template/; documented ports become free ports and /tmp/ a scratch folder; a server
// started in the background is waited for before the next command, as is the endpoint an AWS CLI
// waiter waits for, and everything the group started is killed at the end. The `aws` the blocks
// run is the machine's AWS CLI, through a pre-imported Python when it is a Python script
// (test/helpers/aws-zygote.ts: a command costs about two thirds of a plain run's CPU), and an
// `npx <tool>` of a tool the checkout installs runs that tool's node_modules/.bin entry directly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { REPO_ROOT } from '../helpers/serve-process.js';
import { PORT_RANGE_POOL_LOW } from '../../src/net/ports.js';
import { awsCliVersion, startAwsZygote, type AwsZygote } from '../helpers/aws-zygote.js';
import { expectedOutputs, readDocBlocks, unmarkedCodeBlocks, unmarkedSmkitBlocks, type DocBlock } from '../helpers/doc-blocks.js';

const DOCS = ['README.md', 'opt-ml-template/README.md', ...readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
// Linked read-only; copied where a block may write (cp -r of a link would write through it).
const LINKED = ['bin', 'dist', 'node_modules', 'package.json'];
const COPIED = ['models', 'opt-ml-template'];
// The documented ports: the servers' (8080-8099) and the local S3's (4569).
const PORT = /\b(80[89]\d|4569)\b/g;

// A documented port is probed free and then bound later by the block's server, so another process
// can take it in between. Ports below the kernel's ephemeral range (32768-60999 by default) are never
// handed out for port 0 or outgoing connections, which is how every other test gets its ports; and
// below smkit's port-range pool (PORT_RANGE_POOL_LOW, 20000), since smkit draws SAGEMAKER_SAFE_PORT_RANGE ranges from 20000 up
// and checks each port of one free by binding it, which resets a connection queued on it meanwhile. A
// group whose server still finds its port taken is run again on fresh ports.
const PORT_RANGE = { from: 10_000, to: PORT_RANGE_POOL_LOW - 100 };
const PORT_TAKEN = /ERR_PORT_IN_USE|EADDRINUSE|already in use/;
const ATTEMPTS = 3;
/** Ports handed to groups still running (groups run side by side). */
const reserved = new Set<string>();

/** A port outside the ephemeral range that nothing holds right now (and not already in `taken`). */
async function quietPort(taken: ReadonlySet<string>): Promise<string> {
  for (;;) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (taken.has(String(port))) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
    });
    if (free) return String(port);
  }
}

/**
 * A python3 with boto3, Debian's first (as local-sagemaker-clients.test.ts looks for it), and which
 * of `operations` (`<service>.<operation>`) its botocore has: one Python run for both, since each
 * run costs about half a second of CPU importing boto3 (Debian bookworm's boto3 1.26 predates
 * inference components).
 */
function pythonWithBoto3(operations: readonly string[]): { python: string; has: ReadonlySet<string> } | undefined {
  const check = `import boto3, json, sys
found = []
for name in sys.argv[1:]:
    service, operation = name.split('.')
    client = boto3.client(service, region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
    if hasattr(client, operation): found.append(name)
print(json.dumps({'executable': sys.executable, 'found': found}))`;
  // Debian's first, but one that lacks an operation another has gives way to it (bookworm's boto3
  // 1.26 left the inference-components walk-through unrun where a newer python3 on PATH has it).
  // The python3 on PATH is asked only when it is another file (where it is Debian's, a second run
  // would cost another boto3 import for nothing), and the blocks run the interpreter itself
  // (sys.executable), not a pyenv shim that is a bash script starting it at each block.
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'python3')).find((p) => isExecutable(p));
  const candidates = ['/usr/bin/python3', ...(onPath && realOrSelf(onPath) !== realOrSelf('/usr/bin/python3') ? [onPath] : [])];
  let found: { python: string; has: ReadonlySet<string> } | undefined;
  for (const candidate of candidates) {
    const run = spawnSync(candidate, ['-c', check, ...operations], { encoding: 'utf8' });
    if (run.status !== 0) continue;
    const answer = JSON.parse(run.stdout) as { executable: string; found: string[] };
    const has = new Set(answer.found);
    if (!found || has.size > found.has.size) found = { python: answer.executable || candidate, has };
    if (has.size === operations.length) break;
  }
  return found;
}

/** `file` with its symbolic links resolved, or as given when it does not exist. */
function realOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The AWS CLI v2 (the recipes use v2 flags); a v1 `aws` earlier on PATH does not count. */
function awsCliV2(): string | undefined {
  for (const candidate of ['/usr/bin/aws', '/usr/local/bin/aws']) {
    if (awsCliVersion(candidate)?.startsWith('aws-cli/2.')) return candidate;
  }
  return undefined;
}

/**
 * `__doc_wait <port>`: waits for a server started in the background to answer `/ping` with anything
 * but 503 (still loading), asking through bash's /dev/tcp: a curl in a command substitution, at
 * each of a wait's polls, forked the group's bash and then curl (about 25 ms of CPU a poll).
 * `__doc_settled <waiter> <its arguments>`: run before `aws sagemaker wait <waiter>`, polls
 * DescribeEndpoint every 0.2 s until what the waiter stops on (success or failure) holds. The
 * waiter looks at once and then every 30 s, so without this a start-up or rollback not over by its
 * first look sleeps 30 s; the command the reader types still runs, and is what the test checks.
 * Its polls go through /dev/tcp too (HTTP/1.0, so the answer ends when the server closes), and
 * both pause with `read -t` on a pipe nothing writes to: a `sleep` is a fork and an exec (about
 * 8 ms of CPU here) and a curl about 40 ms, at five polls a second through a model's load.
 * That pause needs bash 4.1 (`{fd}` redirections, a fractional `-t`) and Linux's /dev/fd (on
 * macOS, `read -t` on that pipe returns at once): elsewhere it is a `sleep`. /dev/tcp speaks
 * neither TLS nor a bracketed IPv6 host: an https:// or [::1] endpoint URL is asked with curl.
 * A write to a connection reset at once is not fatal (it is made in a subshell): it failed with
 * ECONNRESET, which under `set -e` ended the group silently (its message went to /dev/null), or
 * SIGPIPE killed the shell: another test file's smkit checked a port range free by binding each port
 * in it (20000 up, where the groups' ports were drawn then), which took the waiting connection and
 * reset it. The groups' ports are now drawn below that pool, but a reset stays harmless.
 */
const PREAMBLE = `set -eo pipefail
if [[ $OSTYPE == linux* ]] && ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 401)) && exec {__doc_pause_fd}<> <(:); then
  __doc_pause() {
    read -r -t "$1" -u "$__doc_pause_fd" _ || true
  }
else
  __doc_pause() {
    sleep "$1"
  }
fi
__doc_wait() {
  local status i
  for ((i = 0; i < 1500; i++)); do
    status=
    if exec 9<>"/dev/tcp/127.0.0.1/$1"; then
      (printf 'GET /ping HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&9) || true
      read -r -t 5 _ status _ <&9 || true
      exec 9<&-
    fi 2>/dev/null
    if [ -n "$status" ] && [ "$status" != 503 ]; then return 0; fi
    __doc_pause 0.2
  done
  echo "doc-test: nothing answered on port $1" >&2
  return 1
}
__doc_describe_endpoint() {
  local url=$1 body='{"EndpointName":"'"$2"'"}' hostport host port
  hostport=\${url#*://}
  hostport=\${hostport%%/*}
  host=\${hostport%:*} port=80
  if [[ $hostport == *:* ]]; then port=\${hostport##*:}; fi
  answer=
  if [[ $url == https://* || $hostport == \\[* ]]; then
    answer=$(curl -sg -m 5 -X POST "$url/" -H 'X-Amz-Target: SageMaker.DescribeEndpoint' -H 'Content-Type: application/x-amz-json-1.1' -d "$body" || true)
    return 0
  fi
  if exec 9<>"/dev/tcp/$host/$port"; then
    (printf 'POST / HTTP/1.0\\r\\nHost: %s\\r\\nX-Amz-Target: SageMaker.DescribeEndpoint\\r\\nContent-Type: application/x-amz-json-1.1\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "$hostport" "\${#body}" "$body" >&9) || true
    read -r -d '' -t 5 answer <&9 || true
    exec 9<&-
  fi 2>/dev/null
}
__doc_settled() {
  local waiter=$1 url=\${AWS_ENDPOINT_URL:-} name= answer i
  shift
  while [ $# -gt 0 ]; do
    case $1 in --endpoint-url) url=$2; shift ;; --endpoint-name) name=$2; shift ;; esac
    shift
  done
  if [ -z "$url" ]; then return 0; fi
  for ((i = 0; i < 1500; i++)); do
    __doc_describe_endpoint "$url" "$name"
    case $waiter in
      endpoint-in-service) if [[ $answer == *'"EndpointStatus":"InService"'* || $answer == *'"EndpointStatus":"Failed"'* || $answer == *ValidationException* ]]; then return 0; fi ;;
      endpoint-deleted) if [[ $answer == *ValidationException* ]]; then return 0; fi ;;
    esac
    __doc_pause 0.2
  done
  echo "doc-test: endpoint $name at $url never reached what aws sagemaker wait $waiter waits for" >&2
  return 1
}
`;

/** The group's script: ports and /tmp/ rewritten, a wait after each server started in the background. */
function script(blocks: readonly DocBlock[], ports: Map<string, string>, tmp: string): string {
  const parts = [PREAMBLE];
  const rewrite = (text: string) => text.replace(PORT, (p) => ports.get(p)!).replaceAll('/tmp/', `${tmp}/`);
  const shell = (text: string) => {
    const lines = rewrite(text).split('\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      // A command continued with a backslash ends on a later line.
      while (line.endsWith('\\') && i + 1 < lines.length) line = `${line}\n${lines[++i]}`;
      // So the waiter's first look sees what it waits for (as local-sagemaker-clients.test.ts does).
      const waiter = /^\s*aws sagemaker wait (endpoint-in-service|endpoint-deleted)\b/.exec(line);
      if (waiter) parts.push(`__doc_settled ${waiter[1]}${line.slice(waiter[0].length)}`);
      parts.push(line);
      if (/\bsmkit(\.js)? (serve|local(?! (transform|train)))\b|\bs3rver\b/.test(line) && /&\s*(#.*)?$/.test(line)) {
        const port = /--port (\d+)/.exec(line)?.[1] ?? ports.get('8080')!;
        parts.push(`__doc_wait ${port}`);
      }
    }
  };
  for (const b of blocks) {
    parts.push(`# --- ${b.file}:${b.line}`);
    // A one-line `before` may start a server and go on: `server ... & export ...` is two lines.
    if (b.before) shell(b.before.split(/(?<=[^&]&)\s+/).join('\n'));
    if (b.kind === 'sh') {
      shell(b.code);
      continue;
    }
    // Quoted heredocs: the block reaches node, python or the file as written.
    const run = { js: 'node --input-type=module -', python: '"$DOC_PYTHON" -', file: `cat > '${b.writes}'` }[b.kind];
    parts.push(`${run} <<'__DOC_BLOCK__'`, rewrite(b.code), '__DOC_BLOCK__');
  }
  return parts.join('\n') + '\n';
}

/** The machine's npx: the first on PATH. */
const npx = (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'npx')).find((file) => isExecutable(file));

/** Whether `file` exists and may be run. */
function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes an `npx` into `dir` (first on the group's PATH) that runs `npx <tool> ...` of a tool the
 * scratch folder's node_modules/.bin has (s3rver) as npx runs it, the project's own bin, without
 * npm's start-up (about 0.6 s of CPU each); anything else goes to the machine's npx.
 */
function installNpx(dir: string, real: string): void {
  const shim = path.join(dir, 'npx');
  writeFileSync(shim, `#!/bin/sh\ncase $1 in ''|-*|*/*) ;; *) if [ -x "node_modules/.bin/$1" ]; then tool=$1; shift; exec "node_modules/.bin/$tool" "$@"; fi ;; esac\nexec '${real.replaceAll("'", `'\\''`)}' "$@"\n`);
  chmodSync(shim, 0o755);
}

/**
 * The live (not zombie) processes of the group `pgid` leads, among `pids` or, without them, among all
 * of /proc. An exited background server stays a zombie until init reaps it (here only every second
 * or two), so on Linux the zombies do not count; elsewhere the group counts as one process while
 * any of it is there.
 */
function groupMembers(pgid: number, pids?: Iterable<string>): string[] {
  try {
    process.kill(-pgid, 0);
  } catch {
    return [];
  }
  if (process.platform !== 'linux') return [String(pgid)];
  const members: string[] = [];
  for (const entry of pids ?? readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(entry);
  }
  return members;
}

/**
 * Waits up to `ms` for the group `pgid` leads to end. Its members are found once in /proc (a few
 * hundred files on a busy machine, about 5 ms of CPU), then only they are looked at every 50 ms;
 * /proc is read again only when they are gone, for any process one of them started meanwhile.
 */
async function groupEnded(pgid: number, ms: number): Promise<boolean> {
  const stopBy = Date.now() + ms;
  let members = groupMembers(pgid);
  while (members.length > 0 && Date.now() < stopBy) {
    await new Promise((r) => setTimeout(r, 50));
    members = groupMembers(pgid, members);
    if (members.length === 0) members = groupMembers(pgid);
  }
  return members.length === 0;
}

async function runGroup(blocks: readonly DocBlock[], aws: string | undefined, python: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const run = await runGroupOnce(blocks, aws, python);
    if (run.code !== 0 && PORT_TAKEN.test(run.stdout + run.stderr) && attempt < ATTEMPTS) continue;
    return checkRun(blocks, run);
  }
}

/** This process's environment without the settings of smkit, SageMaker, AWS and the test runner. */
function outerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SAGEMAKER_|SM_|SMKIT_|NODE_TEST|AWS_)/.test(k)) env[k] = v;
  return env;
}

interface GroupRun {
  code: number | null;
  source: string;
  stdout: string;
  stderr: string;
}

/** Runs the group once in a scratch folder on fresh ports. */
async function runGroupOnce(blocks: readonly DocBlock[], aws: string | undefined, python: string | undefined): Promise<GroupRun> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'smkit-doc-'));
  const tmp = path.join(work, 'tmp');
  mkdirSync(tmp);
  for (const entry of LINKED) symlinkSync(path.join(REPO_ROOT, entry), path.join(work, entry));
  for (const entry of COPIED) cpSync(path.join(REPO_ROOT, entry), path.join(work, entry), { recursive: true });
  const shims = path.join(work, '.bin');
  mkdirSync(shims);
  if (zygote) zygote.install(shims);
  else if (aws) symlinkSync(aws, path.join(shims, 'aws'));
  if (npx) installNpx(shims, npx);
  const ports = new Map<string, string>();
  const pick = async (documented: string) => {
    if (ports.has(documented)) return;
    const port = await quietPort(reserved);
    reserved.add(port);
    ports.set(documented, port);
  };
  for (const b of blocks) for (const m of `${b.before ?? ''}\n${b.code}`.matchAll(PORT)) await pick(m[1]!);
  await pick('8080');
  const env = outerEnv();
  env.PATH = `${shims}${path.delimiter}${process.env.PATH}`;
  env.SAGEMAKER_MODEL_SERVER_WORKERS = '1';
  if (python) env.DOC_PYTHON = python;
  const source = script(blocks, ports, tmp);
  const child = spawn('bash', ['-c', source], { cwd: work, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const deadline = setTimeout(() => killGroup('SIGKILL'), 300_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(deadline);
  // Servers the blocks left in the background: SIGTERM, then SIGKILL whatever remains after 2 s.
  killGroup('SIGTERM');
  await groupEnded(child.pid!, 2_000);
  killGroup('SIGKILL');
  rmSync(work, { recursive: true, force: true });
  for (const port of ports.values()) reserved.delete(port);
  return { code, source, stdout, stderr };
}

/** The group exited 0 and printed every documented answer, in order. */
function checkRun(blocks: readonly DocBlock[], { code, source, stdout, stderr }: GroupRun): void {
  const where = blocks.map((b) => `${b.file}:${b.line}`).join(', ');
  assert.equal(code, 0, `doc blocks ${where} failed (exit ${code}):\n--- script ---\n${source}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
  let from = 0;
  for (const b of blocks) {
    for (const expected of expectedOutputs(b)) {
      const rest = stdout.slice(from);
      const m = expected.exec(rest);
      assert.ok(m, `${b.file}:${b.line} documents the answer ${expected.source}, but the commands printed:\n${stdout}`);
      from += m.index + m[0].length;
    }
  }
}

const blocks = DOCS.flatMap((f) => readDocBlocks(path.join(REPO_ROOT, f), f));
const groups = new Map<string, DocBlock[]>();
for (const b of blocks) groups.set(b.group, [...(groups.get(b.group) ?? []), b]);
const aws = awsCliV2();
/** The `boto3:<service>.<operation>` needs of the blocks. */
const BOTO3_OPERATION = /^boto3:([a-z0-9-]+\.[a-z0-9_]+)$/;
const boto3 = pythonWithBoto3([...new Set(blocks.flatMap((b) => b.needs.flatMap((n) => BOTO3_OPERATION.exec(n)?.[1] ?? [])))]);
const python = boto3?.python;
/** The pre-imported AWS CLI the groups' `aws` runs through, when there is one. */
let zygote: AwsZygote | undefined;
const TOOLS: Record<string, string | undefined> = { aws, boto3: python };

/**
 * Whether this machine has what `need` names: `aws`, `boto3`, or `boto3:<service>.<operation>`, a
 * boto3 whose botocore has that operation (Debian bookworm's boto3 1.26 predates inference components).
 */
function has(need: string): boolean {
  const op = BOTO3_OPERATION.exec(need);
  if (!op) return !(need in TOOLS) || TOOLS[need] !== undefined;
  return boto3?.has.has(op[1]!) ?? false;
}
/**
 * Groups that run an AWS CLI waiter (`aws ... wait ...`): the AWS CLI walk-throughs, the longest
 * groups (a score of CLI calls, each a second or more of Python start-up). These run first, beside
 * (not in) the slots the other groups share.
 */
const runsCliWaiter = (group: readonly DocBlock[]) => group.some((b) => b.kind === 'sh' && /^\s*aws \S+ wait /m.test(b.code));
/**
 * Most of a group's time is waiting (for a server to load its model, an endpoint to come into
 * service): with two slots the file took about two and a half times its CPU time in wall time.
 */
const SLOTS = 3;
let busy = 0;
const queued: (() => void)[] = [];
/** Runs `fn` in one of the {@link SLOTS} slots, once one is free. */
async function inSlot(fn: () => Promise<void>): Promise<void> {
  if (busy >= SLOTS) await new Promise<void>((resolve) => queued.push(resolve));
  else busy++;
  try {
    await fn();
  } finally {
    // The slot passes straight to the next group waiting, if any.
    const next = queued.shift();
    if (next) next();
    else busy--;
  }
}
// Then the groups of several blocks (the walk-throughs: a local SageMaker, endpoints, SDK scripts),
// the longest of the rest, so the run does not end on one of them started last.
const ordered = [...groups].sort(([, a], [, b]) => Number(runsCliWaiter(b)) - Number(runsCliWaiter(a)) || b.length - a.length);
const cliGroups = ordered.filter(([, g]) => runsCliWaiter(g)).length;

/** Pages whose every shell, JavaScript and Python block is run or marked skip="why": every page of docs/ but the benchmark records. */
const WALKTHROUGHS = DOCS.filter((f) => f.startsWith('docs/') && !f.startsWith('docs/benchmarks'));

describe('documented blocks run as written', { concurrency: SLOTS + cliGroups }, () => {
  before(async () => {
    if (aws) zygote = await startAwsZygote(aws, outerEnv());
  });
  after(() => zygote?.stop());
  test('the docs mark their runnable blocks', () => {
    assert.ok(groups.size >= 8, `only ${groups.size} doc-test groups found`);
    // The README is what a new user follows line by line: each block that runs smkit is run here, or says why not.
    assert.deepEqual(unmarkedSmkitBlocks(path.join(REPO_ROOT, 'README.md')), [], 'README.md blocks at these lines run smkit without a <!-- doc-test --> marker (add one, or skip="why")');
    for (const page of WALKTHROUGHS) {
      assert.deepEqual(unmarkedCodeBlocks(path.join(REPO_ROOT, page)), [], `${page}: the code blocks at these lines have no <!-- doc-test --> marker (add one, or skip="why")`);
    }
  });
  for (const [name, group] of ordered) {
    const needs = [...new Set(group.flatMap((b) => b.needs))];
    const missing = needs.filter((n) => !has(n));
    const why = missing.map((n) => (n === 'aws' ? 'aws (the AWS CLI v2)' : n === 'boto3' ? 'boto3 (a python3 with boto3)' : `${n} (a boto3 with that operation)`)).join(', ');
    test(`${name} (${group.map((b) => `${b.file}:${b.line}`).join(', ')})`, { skip: missing.length > 0 ? `needs ${why}` : false }, () =>
      runsCliWaiter(group) ? runGroup(group, aws, python) : inSlot(() => runGroup(group, aws, python)),
    );
  }
});
