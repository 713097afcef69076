import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lchownSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NEW_SESSION, SessionStore, newSessionHeaderValue, sessionDir } from './session-store.js';
import { StatefulSession, closingWhenStreamEnds } from './stateful-session.js';
import { Cancellation } from '../core/cancellation.js';
import { ToolkitError } from '../errors/catalogue.js';
import { decideSession } from './session-requests.js';

/** `NewSessionId`'s pattern in the SageMaker Runtime API model. */
const NEW_SESSION_ID = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*;\sExpires=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

function withStore(fn: (store: SessionStore, root: string, clock: { now: number }) => Promise<void>, maxSessions = 100): () => Promise<void> {
  return async () => {
    const root = path.join(mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-')), 'sessions');
    const clock = { now: Date.UTC(2026, 11, 2, 3, 0, 0, 250) };
    try {
      await fn(new SessionStore({ root, ttlSeconds: 60, maxSessions, now: () => clock.now }), root, clock);
    } finally {
      rmSync(path.dirname(root), { recursive: true, force: true });
    }
  };
}

const code = (c: string) => (err: Error & { code?: string }) => err.code === c;

test(
  'a session opens, is found until it expires or closes, and its folder goes with it',
  withStore(async (store, root, clock) => {
    const s = await store.create();
    assert.equal(s.expiresAt, clock.now + 60_000);
    assert.match(newSessionHeaderValue(s), NEW_SESSION_ID);
    assert.equal(newSessionHeaderValue(s), `${s.id}; Expires=2026-12-02T03:01:00Z`);
    assert.deepEqual(await store.open(s.id), s);
    clock.now += 59_999;
    assert.equal((await store.open(s.id)).id, s.id);
    clock.now += 1;
    await assert.rejects(store.open(s.id), (err: Error & { code?: string }) => err.code === 'ERR_SESSION_NOT_FOUND' && /expired at 2026-12-02T03:01:00.250Z/.test(err.message));
    assert.equal(existsSync(sessionDir(s)), false, 'an expired session is removed when asked for');
    const t = await store.create();
    await store.close(t.id);
    await assert.rejects(store.open(t.id), (err: Error & { code?: string }) => err.code === 'ERR_SESSION_NOT_FOUND' && /not open here/.test(err.message));
    assert.deepEqual(readdirSync(root), []);
  }),
);

test(
  'ids that are not session ids are refused before any file is touched',
  withStore(async (store, root) => {
    await store.create();
    for (const id of ['../../etc', `${root}/x`, 'a/b', '-a', 'a-', 'x'.repeat(257), NEW_SESSION, '', 'a b']) {
      await assert.rejects(store.open(id), code('ERR_SESSION_NOT_FOUND'), id);
      await store.close(id);
    }
    assert.equal(readdirSync(root).length, 1, 'close() of a bad id removed nothing');
  }),
);

test(
  'at most maxSessions are open; expired ones make room',
  withStore(async (store, _root, clock) => {
    await store.create();
    await store.create();
    await assert.rejects(store.create(), (err: Error & { code?: string; status?: number }) => err.code === 'ERR_TOO_MANY_SESSIONS' && err.status === 503 && /SMKIT_SESSIONS_MAX/.test(err.message));
    clock.now += 61_000;
    await store.create();
    assert.equal(await store.sweep(), 1);
  }, 2),
);

test(
  "a session's store keeps JSON values by key, refuses keys that would leave its folder, and fails once the session is gone",
  withStore(async (store) => {
    const ref = await store.create();
    const session = new StatefulSession(ref);
    assert.equal(await session.get('turns', 7), 7);
    await session.put('turns', { history: ['a', 'b'], n: 2 });
    assert.deepEqual(await new StatefulSession(ref).get('turns'), { history: ['a', 'b'], n: 2 }, 'another object (another worker) reads it');
    for (const key of ['.expires', '../x', 'a/b', '', 'x'.repeat(129)]) {
      await assert.rejects(session.put(key, 1), code('ERR_SESSION_KEY'), key);
      await assert.rejects(session.get(key), code('ERR_SESSION_KEY'), key);
    }
    await assert.rejects(session.put('f', () => 1), code('ERR_SESSION_KEY'));
    // A key that is not a string, whose toString answers a harmless name to the check and a way out to the path.
    let calls = 0;
    const shifty = { toString: () => (calls++ === 0 ? 'fine' : '../../escaped') } as unknown as string;
    await assert.rejects(session.put(shifty, 1), code('ERR_SESSION_KEY'));
    assert.equal(existsSync(path.join(ref.root, '..', 'escaped.json')), false, 'nothing written outside the session folder');
    await assert.rejects(session.put(7 as unknown as string, 1), code('ERR_SESSION_KEY'));
    // A put that fails part way (here the rename: its file's name is taken by a folder) leaves no temporary file behind.
    mkdirSync(path.join(sessionDir(ref), 'blocked.json', 'inside'), { recursive: true });
    // A value that cannot be written or read (EISDIR here, as ENOSPC or EMFILE would) is the sessions
    // folder's failure, 424 ERR_SESSION_STORAGE, not the handler's (it was a 500 ERR_USER_CODE).
    const storage = (action: string) => (err: Error & { code?: string; status?: number }) => err.code === 'ERR_SESSION_STORAGE' && err.status === 424 && err.message.startsWith(`could not ${action} session value "blocked"`);
    await assert.rejects(session.put('blocked', 1), storage('write'));
    await assert.rejects(session.get('blocked', 0), storage('read'));
    assert.deepEqual(readdirSync(sessionDir(ref)).sort(), ['.expires', 'blocked.json', 'turns.json']);
    assert.equal(session.closing, false);
    session.close();
    assert.equal(session.closing, true);
    await store.close(ref.id);
    await assert.rejects(session.put('turns', 3), code('ERR_SESSION_NOT_FOUND'));
    // Read once it is gone (expired and swept, or closed, while a request ran): not the fallback, which
    // answered as if the session had just begun (an empty history, a count back at 0) with a 200.
    await assert.rejects(session.get('turns', 0), code('ERR_SESSION_NOT_FOUND'));
    await assert.rejects(session.get('never-stored', 0), code('ERR_SESSION_NOT_FOUND'));
  }),
);

test(
  'session requests: NEW_SESSION and CLOSE bodies are answered here, other bodies are inferences in the session',
  withStore(async (store, root) => {
    await assert.rejects(decideSession(undefined, NEW_SESSION, Buffer.from('{}')), (err: Error & { code?: string }) => err.code === 'ERR_SESSIONS_DISABLED' && /SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true/.test(err.message));
    const opened = await decideSession(store, NEW_SESSION, Buffer.from(' {"requestType": "NEW_SESSION"} '));
    assert.equal(opened.kind, 'answer');
    const newId = opened.kind === 'answer' ? opened.headers['x-amzn-sagemaker-new-session-id']! : '';
    assert.match(newId, NEW_SESSION_ID);
    assert.equal(opened.kind === 'answer' && opened.headers['x-amzn-sagemaker-session-id'], newId, 'the container form of the header too');
    const id = newId.split(';')[0]!;

    const inSession = await decideSession(store, id, Buffer.from('[[1,2]]'));
    assert.deepEqual(inSession.kind === 'invoke' && [inSession.session.id, inSession.created], [id, false]);
    const big = Buffer.from(JSON.stringify({ requestType: 'CLOSE', pad: 'x'.repeat(5000) }));
    assert.equal((await decideSession(store, id, big)).kind, 'invoke', 'a large body is an inference, whatever it holds');
    await assert.rejects(decideSession(store, id, Buffer.from('{"requestType": "OPEN"}')), (err: Error & { code?: string; status?: number }) => err.code === 'ERR_BAD_REQUEST' && err.status === 400 && /NEW_SESSION" or "CLOSE/.test(err.message));
    await assert.rejects(decideSession(store, NEW_SESSION, Buffer.from('{"requestType": "CLOSE"}')), code('ERR_SESSION_NOT_FOUND'));
    // The refused requestType is quoted in part, between characters: half an emoji would reach the JSON answer as a lone \ud83d, which Python cannot print.
    await assert.rejects(decideSession(store, id, Buffer.from(JSON.stringify({ requestType: `${'a'.repeat(78)}😀😀` }))), (err: Error) => {
      assert.equal(err.message, `requestType "${'a'.repeat(78)}… is not a session request: use "NEW_SESSION" or "CLOSE" (or leave requestType out of an inference)`);
      return true;
    });

    // A NEW_SESSION body is checked against the header's session first, as AWS's container standards do.
    const before = readdirSync(root).length;
    await assert.rejects(decideSession(store, '0e7a1c2b-0000-4000-8000-000000000000', Buffer.from('{"requestType":"NEW_SESSION"}')), code('ERR_SESSION_NOT_FOUND'));
    assert.equal(readdirSync(root).length, before, 'no session opened for a request naming an unknown one');
    const another = await decideSession(store, id, Buffer.from('{"requestType":"NEW_SESSION"}'));
    assert.equal(another.kind === 'answer' && another.body.startsWith('Session ') && !another.body.includes(id), true, 'from an open session, a new one opens');
    await store.close((another.kind === 'answer' ? another.headers['x-amzn-sagemaker-new-session-id']! : '').split(';')[0]!);

    const created = await decideSession(store, NEW_SESSION, Buffer.from('1,2,3'));
    assert.equal(created.kind === 'invoke' && created.created, true, 'NEW_SESSION with an inference opens a session for it');

    const closed = await decideSession(store, id, Buffer.from('{"requestType":"CLOSE"}'));
    assert.deepEqual(closed.kind === 'answer' && closed.headers, { 'x-amzn-sagemaker-closed-session-id': id });
    await assert.rejects(decideSession(store, id, Buffer.from('[[1,2]]')), code('ERR_SESSION_NOT_FOUND'));
    assert.equal(readdirSync(root).length, 1, 'only the session opened for the inference is left');
  }),
);

test('opening a session removes the expired ones, at most once a minute', async () => {
  const root = path.join(mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-')), 'sessions');
  let now = 1_000_000;
  const store = new SessionStore({ root, ttlSeconds: 10, maxSessions: 100, now: () => now });
  try {
    const a = await store.create();
    now += 11_000;
    const b = await store.create();
    assert.equal(existsSync(sessionDir(a)), true, 'within a minute of the last sweep an expired session stays (refused when asked for)');
    now += 49_000;
    const c = await store.create();
    assert.deepEqual([existsSync(sessionDir(a)), existsSync(sessionDir(b)), existsSync(sessionDir(c))], [false, false, true], 'a minute on, the sweep removed both expired ones');
  } finally {
    rmSync(path.dirname(root), { recursive: true, force: true });
  }
});

test(
  'a flood of NEW_SESSION on a full store is refused from a folder listing, without reading every session',
  withStore(async (store, root, clock) => {
    const first = await store.create();
    clock.now += 10_000;
    const open = [first, await store.create(), await store.create()];
    // A sweep would read this expiry and remove the session; a refusal from the count alone leaves it.
    writeFileSync(path.join(sessionDir(open[0]!), '.expires'), '0');
    for (let i = 0; i < 5; i++) await assert.rejects(store.create(), code('ERR_TOO_MANY_SESSIONS'));
    assert.equal(existsSync(sessionDir(open[0]!)), true, 'no sweep ran while no session could have expired');
    clock.now = open[0]!.expiresAt;
    const next = await store.create();
    assert.equal(existsSync(sessionDir(open[0]!)), false, 'once one may have expired, the sweep runs and makes room');
    assert.equal(readdirSync(root).filter((n) => !n.startsWith('.')).length, 3);
    assert.equal((await store.open(next.id)).id, next.id);
  }, 3),
);

test('a full store whose earliest session expired removes that one without reading every session\'s expiry again', async () => {
  const root = path.join(mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-')), 'sessions');
  let now = 1_000_000;
  const store = new SessionStore({ root, ttlSeconds: 100, maxSessions: 3, now: () => now });
  try {
    const a = await store.create();
    now += 10_000;
    const b = await store.create();
    now += 51_000;
    // A minute since the first: this one sweeps (reading a's and b's expiries).
    const c = await store.create();
    // A read of c's expiry would take it for expired and remove it: an expiry that is not read again leaves it.
    writeFileSync(path.join(sessionDir(c), '.expires'), '0');
    now = a.expiresAt + 1;
    const d = await store.create();
    assert.deepEqual([a, b, c, d].map((s) => existsSync(sessionDir(s))), [false, true, true, true], 'only a, due, was removed; no sweep read the others');
    // Full again, none due: refused from the listing.
    await assert.rejects(store.create(), code('ERR_TOO_MANY_SESSIONS'));
    now = b.expiresAt;
    const e = await store.create();
    assert.deepEqual([b, c, d, e].map((s) => existsSync(sessionDir(s))), [false, true, true, true]);
    // A minute after the sweep, full again: the next sweep reads every expiry (c's says expired).
    now += 60_000;
    const f = await store.create();
    assert.deepEqual([c, d, e, f].map((s) => existsSync(sessionDir(s))), [false, true, true, true]);
  } finally {
    rmSync(path.dirname(root), { recursive: true, force: true });
  }
});

test('a sweep running beside many NEW_SESSIONs never removes a session being opened', async () => {
  const root = path.join(mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-')), 'sessions');
  // A lifetime no run reaches: the sweeps must find nothing expired. With 60 s, a run that took 110 s
  // on a loaded machine had its first sessions expire and rightly swept, which `look` reported as
  // folders seen without their expiry.
  const opts = { root, ttlSeconds: 86_400, maxSessions: 10_000 };
  const store = new SessionStore(opts);
  // Another worker's store, sweeping whenever it can.
  const sweeper = new SessionStore(opts);
  try {
    await store.create();
    let creating = true;
    // What a sweep would see, looked at between every step of the event loop: a session folder
    // without its expiry yet is one a sweep removes.
    const halfMade = new Set<string>();
    const look = (): void => {
      for (const name of readdirSync(root)) {
        if (name.startsWith('.')) continue;
        const expiry = path.join(root, name, '.expires');
        if (!existsSync(expiry) || readFileSync(expiry, 'utf8') === '') halfMade.add(name);
      }
      if (creating) setImmediate(look);
    };
    setImmediate(look);
    const sweeping = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (creating) await sweeper.sweep();
      }),
    );
    const created = await Promise.all(Array.from({ length: 200 }, () => store.create().catch((err: Error) => err)));
    creating = false;
    await sweeping;
    assert.deepEqual([...halfMade], [], 'no session folder was ever seen without its expiry');
    for (const s of created) {
      assert.ok(!(s instanceof Error), `every NEW_SESSION succeeds: ${String(s)}`);
      assert.equal((await store.open(s.id)).id, s.id);
    }
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.')), [], 'no staging folder is left');
  } finally {
    rmSync(path.dirname(root), { recursive: true, force: true });
  }
});

test(
  'concurrent NEW_SESSIONs in one process open no more sessions than maxSessions',
  withStore(async (store, root) => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.create()));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'ERR_TOO_MANY_SESSIONS');
    assert.equal(readdirSync(root).length, 5);
  }, 5),
);

test(
  'closing a session while its requests still put values: the close succeeds, the puts succeed or get ERR_SESSION_NOT_FOUND',
  withStore(async (store, root) => {
    for (let round = 0; round < 20; round++) {
      const ref = await store.create();
      const session = new StatefulSession(ref);
      let stop = false;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          try {
            await session.put(`k${w}-${i % 4}`, { w, i, pad: 'x'.repeat(256) });
          } catch (err) {
            assert.equal((err as { code?: string }).code, 'ERR_SESSION_NOT_FOUND', String(err));
            return;
          }
        }
      });
      await session.put('ready', true);
      await store.close(ref.id);
      stop = true;
      await Promise.all(writers);
      assert.equal(existsSync(sessionDir(ref)), false);
    }
    await store.sweep();
    assert.deepEqual(readdirSync(root), [], 'nothing is left behind, not even a closed folder being removed');
  }),
);

test(
  'a sessions folder that cannot be written answers ERR_SESSION_STORAGE (424, as AWS\'s container standards), leaving nothing half made',
  withStore(async (store, root) => {
    const kept = await store.create();
    rmSync(root, { recursive: true, force: true });
    writeFileSync(root, 'not a folder');
    const refused = (err: Error & { code?: string; status?: number }) => err.code === 'ERR_SESSION_STORAGE' && err.status === 424 && /SAGEMAKER_SESSIONS_PATH/.test(err.message);
    await assert.rejects(store.create(), refused);
    await assert.rejects(decideSession(store, NEW_SESSION, Buffer.from('{"requestType":"NEW_SESSION"}')), refused);
    await assert.rejects(store.open(kept.id), code('ERR_SESSION_NOT_FOUND'));
    rmSync(root);
    assert.equal((await store.create()).root, root, 'a folder that comes back serves again');
  }),
);

test(
  "a session whose expiry cannot be read (out of descriptors, an I/O error) is kept by a sweep, and asking for it answers ERR_SESSION_STORAGE, not that it is gone",
  withStore(async (store, root, clock) => {
    const s = await store.create();
    const other = await store.create();
    // Reading `.expires` fails with EISDIR here, as it would with EMFILE or EIO: an error that says nothing of the session.
    const expiry = path.join(sessionDir(s), '.expires');
    rmSync(expiry);
    mkdirSync(expiry);
    clock.now += 1000;
    assert.equal(await store.sweep(), 2, 'a session it cannot read is counted as open');
    assert.equal(existsSync(sessionDir(s)), true, 'and not removed with its state');
    await assert.rejects(store.open(s.id), (err: Error & { code?: string; status?: number }) => err.code === 'ERR_SESSION_STORAGE' && err.status === 424 && /could not read/.test(err.message));
    assert.equal((await store.open(other.id)).id, other.id);
    // An id the API allows (256 characters) but no file name can be is simply not open.
    await assert.rejects(store.open('a'.repeat(256)), code('ERR_SESSION_NOT_FOUND'));
    // Past every expiry, the readable session goes; the other is tried again by the next sweep.
    clock.now += 61_000;
    assert.equal(await store.sweep(), 1);
    assert.deepEqual(readdirSync(root), [s.id]);
  }),
);

test(
  'a session whose expiry stays unreadable (EACCES on a folder another user made) is removed by a sweep once a lifetime has passed since it was written, not counted as open for ever',
  withStore(async (store, root) => {
    const s = await store.create();
    const other = await store.create();
    // EISDIR stands for EACCES here (the tests may run as root, whom no mode keeps out).
    const expiry = path.join(sessionDir(s), '.expires');
    rmSync(expiry);
    mkdirSync(expiry);
    assert.equal(await store.sweep(), 2, 'written just now: it may be open');
    const lifetimeAgo = new Date(Date.now() - 61_000);
    utimesSync(expiry, lifetimeAgo, lifetimeAgo);
    assert.equal(await store.sweep(), 1, 'written more than its 60 s lifetime ago: expired whatever it holds');
    assert.deepEqual(readdirSync(root), [other.id]);
  }),
);

test(
  "a session in a folder this server cannot enter (another user's, private to it) is removed by a sweep once a lifetime has passed since the folder was made, not counted as open for ever",
  withStore(async (store, root) => {
    const s = await store.create();
    const other = await store.create();
    const folder = sessionDir(s);
    // Another user's session folder is 0700: neither its expiry nor the file's time can be read,
    // only the folder's own time. Root enters any folder, so there a link to itself (ELOOP) stands
    // for it; anyone else is kept out for real (EACCES).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      rmSync(folder, { recursive: true });
      symlinkSync(folder, folder);
    } else chmodSync(folder, 0o000);
    const setTime = (t: Date): void => (asRoot ? lutimesSync(folder, t, t) : utimesSync(folder, t, t));
    try {
      assert.equal(await store.sweep(), 2, 'made just now: it may be open');
      const lifetimeAgo = new Date(Date.now() - 61_000);
      setTime(lifetimeAgo);
      assert.equal(await store.sweep(), 1, 'made more than its 60 s lifetime ago: expired whatever it holds');
      assert.deepEqual(
        readdirSync(root).filter((n) => !n.startsWith('.')),
        [other.id],
      );
    } finally {
      // Let the test's clean-up remove the folder, wherever the sweep moved it.
      if (!asRoot) for (const n of readdirSync(root)) chmodSync(path.join(root, n), 0o700);
    }
  }),
);

test(
  'a session a crashed process left half made (its staging folder) is removed by a sweep once it is old; one being made is not',
  withStore(async (store, root) => {
    await store.create();
    const abandoned = path.join(root, '.new-11111111-1111-4111-8111-111111111111');
    const making = path.join(root, '.new-22222222-2222-4222-8222-222222222222');
    for (const dir of [abandoned, making]) {
      mkdirSync(dir);
      writeFileSync(path.join(dir, '.expires'), '0');
    }
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(abandoned, hourAgo, hourAgo);
    assert.equal(await store.sweep(), 1);
    assert.equal(existsSync(abandoned), false, 'an hour-old staging folder is removed');
    assert.equal(existsSync(making), true, 'a fresh one may be renamed into place any moment');
  }),
);

// Made as root, which can give a folder or link to another user (uid 65534) as that user would own it.
test(
  "a sessions folder removed after start-up and made again by another user (a folder or a link of theirs in the shared /dev/shm) opens no session: they could read and change its files",
  { skip: process.getuid?.() !== 0 && 'needs root to make files of another user' },
  withStore(async (store, root) => {
    await store.create();
    // Removed (systemd-logind clears a user's /dev/shm files at log-out), then made by someone else.
    rmSync(root, { recursive: true });
    mkdirSync(root, { mode: 0o777 });
    chownSync(root, 65534, 65534);
    await assert.rejects(store.create(), { code: 'ERR_SESSION_STORAGE', message: /SAGEMAKER_SESSIONS_PATH=.*sessions: it now belongs to another user \(uid 65534\)/ });
    assert.deepEqual(readdirSync(root), [], 'no session folder was made in it');
    // Or a link of theirs, leading to a folder of the server's user.
    const own = path.join(path.dirname(root), 'own');
    mkdirSync(own, { mode: 0o700 });
    rmSync(root, { recursive: true });
    symlinkSync(own, root);
    lchownSync(root, 65534, 65534);
    await assert.rejects(store.create(), { code: 'ERR_SESSION_STORAGE', message: /it is now a symbolic link of another user \(uid 65534\)/ });
    // Made again by the server's user (the link its own): sessions open there again.
    rmSync(root);
    symlinkSync(own, root);
    await store.create();
    assert.equal(readdirSync(own).length, 1);
  }),
);

// Made as root, which can give a folder to another user (uid 65534) as that user would own it.
test(
  "a folder on the way to the sessions folder removed after start-up and made again by another user opens no session, though the server made the sessions folder in it again: they could swap it for one of theirs",
  { skip: process.getuid?.() !== 0 && 'needs root to make files of another user' },
  async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'smkit-sessions-'));
    try {
      const mine = path.join(tmp, 'mine');
      const root = path.join(mine, 'sessions');
      const store = new SessionStore({ root, ttlSeconds: 60, maxSessions: 100 });
      await store.create();
      // Both removed (logind removes every file of the user's in /dev/shm), then `mine` made by someone else.
      rmSync(mine, { recursive: true });
      mkdirSync(mine, { mode: 0o777 });
      chmodSync(mine, 0o777);
      chownSync(mine, 65534, 65534);
      await assert.rejects(store.create(), { code: 'ERR_SESSION_STORAGE', message: /SAGEMAKER_SESSIONS_PATH=.*sessions: .*mine on the way to it is now a folder of another user \(uid 65534\)/ });
      assert.deepEqual(readdirSync(root), [], 'the server made the sessions folder again, but opened no session in it');
      // Made again by the server's user: sessions open there again.
      rmSync(mine, { recursive: true });
      await store.create();
      assert.equal(readdirSync(root).length, 1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);

test(
  'a stream that closes its session in its body removes it once its answer began, not when its first chunk (or end) came after the request was given up (a 504 first-chunk timeout)',
  withStore(async (store) => {
    /** A stream as an async generator that calls close() before its first yield: `chunks` chunks. */
    const closing = (session: StatefulSession, chunks: number) =>
      (async function* () {
        session.close();
        for (let i = 0; i < chunks; i++) yield Buffer.from(`chunk ${i}`);
      })();
    const timedOut = () => new ToolkitError('ERR_TIMEOUT', 'the first chunk took too long');
    for (const chunks of [1, 0]) {
      // Given up while its first chunk (or its end) was awaited: the client got a 504, the session stays.
      // Before, that late chunk counted as an answer begun, and the session was removed.
      const ref = await store.create();
      const session = new StatefulSession(ref);
      const cancellation = new Cancellation();
      const stream = closingWhenStreamEnds(closing(session, chunks), session, cancellation)[Symbol.asyncIterator]();
      const first = stream.next();
      cancellation.cancel(timedOut());
      const stopped = stream.return!(undefined);
      assert.equal((await first).done, true, 'the late chunk goes to nobody');
      await stopped;
      assert.equal(existsSync(sessionDir(ref)), true, `${chunks} chunks`);
    }
    // Not given up: the session goes once the stream ends (with a chunk or none), or once it is
    // stopped after its first chunk went out (its answer began).
    for (const [chunks, stopAfterFirst] of [[2, false], [0, false], [2, true]] as const) {
      const ref = await store.create();
      const session = new StatefulSession(ref);
      const cancellation = new Cancellation();
      const stream = closingWhenStreamEnds(closing(session, chunks), session, cancellation)[Symbol.asyncIterator]();
      let next = await stream.next();
      if (stopAfterFirst) {
        assert.equal(next.done, false);
        cancellation.cancel(timedOut());
        await stream.return!(undefined);
      } else while (!next.done) next = await stream.next();
      assert.equal(existsSync(sessionDir(ref)), false, `${chunks} chunks, stopped after the first: ${stopAfterFirst}`);
    }
  }),
);
