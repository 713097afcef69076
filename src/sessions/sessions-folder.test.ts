import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareSessionsFolder } from './sessions-folder.js';

test('the sessions folder is made with its missing parents, private to the server; an existing one is kept', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    const root = path.join(tmp, 'a', 'b', 'sessions');
    await prepareSessionsFolder(root);
    assert.ok(statSync(root).isDirectory());
    assert.equal(statSync(root).mode & 0o777, 0o700 & ~process.umask());
    assert.equal(statSync(path.join(tmp, 'a')).mode & 0o777, 0o700 & ~process.umask());
    await prepareSessionsFolder(root);
    assert.ok(existsSync(root));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a sessions folder that cannot be made stops start-up naming SAGEMAKER_SESSIONS_PATH', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    writeFileSync(path.join(tmp, 'file'), '');
    await assert.rejects(prepareSessionsFolder(path.join(tmp, 'file', 'sessions')), {
      code: 'ERR_CONFIG_INVALID',
      message: /^SAGEMAKER_SESSIONS_PATH=.*file\/sessions: cannot use it for stateful sessions \(ENOTDIR.*point it at a writable folder$/,
    });
    // A file where the folder goes, even one the server may write and execute, is no sessions folder.
    writeFileSync(path.join(tmp, 'script'), '', { mode: 0o755 });
    await assert.rejects(prepareSessionsFolder(path.join(tmp, 'script')), {
      code: 'ERR_CONFIG_INVALID',
      message: /^SAGEMAKER_SESSIONS_PATH=.*script: cannot use it for stateful sessions \(EEXIST.*point it at a writable folder$/,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// Run in a child with a time limit: the failure this guards against is a call that never returns.
test('a sessions folder under /proc stops start-up too, instead of spinning for ever', { skip: process.platform !== 'linux' && 'needs Linux /proc' }, () => {
  const module = new URL('./sessions-folder.js', import.meta.url).href;
  const child = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { prepareSessionsFolder } from ${JSON.stringify(module)}; try { await prepareSessionsFolder('/proc/smkit-no-such-folder/sessions'); } catch (err) { console.log(err.code, err.message); }`],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(child.signal, null, 'prepareSessionsFolder did not return within 20 s');
  assert.match(child.stdout, /^ERR_CONFIG_INVALID SAGEMAKER_SESSIONS_PATH=\/proc\/smkit-no-such-folder\/sessions: cannot use it for stateful sessions \(ENOENT/);
});

test("a sessions folder another user made first (in the shared /dev/shm), or one others may write, stops start-up: they could read and change the sessions' files", async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    const open = path.join(tmp, 'open');
    mkdirSync(open);
    writeFileSync(path.join(open, 'planted'), '');
    chmodSync(open, 0o777);
    await assert.rejects(prepareSessionsFolder(open), {
      code: 'ERR_CONFIG_INVALID',
      message: /^SAGEMAKER_SESSIONS_PATH=.*open: will not keep stateful sessions there: others may write it \(mode 777\) and it holds files already.*only you may write/,
    });
    if (process.getuid?.() === 0) {
      const theirs = path.join(tmp, 'theirs');
      mkdirSync(theirs, { mode: 0o700 });
      chownSync(theirs, 65534, 65534);
      await assert.rejects(prepareSessionsFolder(theirs), { code: 'ERR_CONFIG_INVALID', message: /belongs to another user \(uid 65534\)/ });
    }
    // One of this user's own, made before (group-writable, as under a umask of 002), is used.
    const own = path.join(tmp, 'own');
    mkdirSync(own, { mode: 0o775 });
    await prepareSessionsFolder(own);
    assert.deepEqual(readdirSync(own), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("an empty sessions folder of this user's that others may write (a tmpfs or emptyDir mounted at the path: 1777, 0777) is made private and used, not refused", async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    for (const mode of [0o1777, 0o777]) {
      const mount = path.join(tmp, `mount-${mode.toString(8)}`);
      mkdirSync(mount);
      chmodSync(mount, mode);
      await prepareSessionsFolder(mount);
      assert.equal(statSync(mount).mode & 0o7777, 0o700, mode.toString(8));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// Made as root, which can give a link or folder to another user (uid 65534) as that user would own it.
test("a sessions path through another user's link or folder stops start-up: they could make it lead to a folder of theirs once it passed", { skip: process.getuid?.() !== 0 && 'needs root to make files of another user' }, async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    // The server user's own private folder, which the check would pass on its own.
    const own = path.join(tmp, 'own');
    mkdirSync(own, { mode: 0o700 });
    // Another user's link at the (shared /dev/shm) path, leading to it.
    const link = path.join(tmp, 'link');
    symlinkSync(own, link);
    lchownSync(link, 65534, 65534);
    await assert.rejects(prepareSessionsFolder(link), {
      code: 'ERR_CONFIG_INVALID',
      message: /^SAGEMAKER_SESSIONS_PATH=.*link: will not keep stateful sessions there: .*link is a symbolic link of another user \(uid 65534\), who could point it elsewhere/,
    });
    // Another user's folder on the way (the sessions folder itself the server's).
    const theirs = path.join(tmp, 'theirs');
    mkdirSync(path.join(theirs, 'sessions'), { recursive: true, mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    chmodSync(theirs, 0o755);
    await assert.rejects(prepareSessionsFolder(path.join(theirs, 'sessions')), { code: 'ERR_CONFIG_INVALID', message: /theirs is a folder of another user \(uid 65534\), who could put another folder in its place/ });
    // Another user's folder on the way the link leads (the link the server's own).
    const ownLink = path.join(tmp, 'own-link');
    symlinkSync(path.join(theirs, 'sessions'), ownLink);
    await assert.rejects(prepareSessionsFolder(ownLink), { code: 'ERR_CONFIG_INVALID', message: /theirs is a folder of another user \(uid 65534\)/ });
    // The server's own link to its own folder is used.
    const fine = path.join(tmp, 'fine');
    symlinkSync(own, fine);
    await prepareSessionsFolder(fine);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// Made as root, which can start a process of another user in a user namespace of its own that maps
// that user to its root and no one else (`unshare -r`, as sandboxes and rootless tools do).
test("in a user namespace that does not map the machine's root, its folders on the way (/, /tmp, shown as the overflow uid) do not stop start-up", { skip: process.getuid?.() !== 0 && 'needs root to start a process of another user' }, (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-folder-'));
  try {
    chmodSync(tmp, 0o1777);
    const sessions = path.join(tmp, 'sessions');
    const module = new URL('./sessions-folder.js', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => m.prepareSessionsFolder(${JSON.stringify(sessions)})).then(() => console.log('started'), (e) => console.log(e.message))`;
    const probe = spawnSync('setpriv', ['--reuid=65533', '--regid=65533', '--clear-groups', 'unshare', '-U', '-r', 'test', '-w', tmp], { encoding: 'utf8' });
    if (probe.status !== 0) {
      t.skip('no setpriv or unshare, user namespaces not allowed, or the temporary folder out of that user\'s reach');
      return;
    }
    const run = spawnSync('setpriv', ['--reuid=65533', '--regid=65533', '--clear-groups', 'unshare', '-U', '-r', process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(run.stdout.trim(), 'started', run.stderr);
    assert.equal(statSync(sessions).uid, 65533);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
