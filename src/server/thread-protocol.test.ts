import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import { descriptorsBusy, isOutOfDescriptors, keptFailed } from '../core/retrying-load.js';
import { fromWireError, toWireError } from './thread-protocol.js';

const emfile = () => Object.assign(new Error('EMFILE: too many open files, open /dev/null'), { code: 'EMFILE' });
const across = (err: unknown) => fromWireError(toWireError(err));

test('a lack of file descriptors is told apart on either side of the thread: found before opening, met on opening, kept failed by Node, or a thread Node could not create for it; not a thread refused for a limit on threads nor a model of its own failing', () => {
  const threadNotCreated = Object.assign(new Error('Worker initialization failure: EMFILE'), { code: 'ERR_WORKER_INIT_FAILED' });
  const short = [descriptorsBusy('the runtime'), descriptorsBusy('the runtime', emfile()), keptFailed('the runtime', emfile()), new ToolkitError('ERR_MODEL_LOAD', 'the thread ended', { cause: threadNotCreated })];
  for (const err of short) {
    assert.equal(isOutOfDescriptors(err), true, err.message);
    const crossed = across(err);
    assert.equal(isOutOfDescriptors(crossed), true, `across the thread: ${err.message}`);
    assert.deepEqual([crossed.code, crossed.status, crossed.message], [err.code, err.status, err.message]);
  }
  assert.equal(descriptorsBusy('the runtime').cause, undefined, 'a mark, not a made-up cause: what is logged stays what happened');
  // A thread Node could not create (a limit on threads) is busy too, but a new process would meet the same limit.
  const noThread = new ToolkitError('ERR_SERVER_BUSY', 'the image decoder thread cannot be started now', { cause: Object.assign(new Error('EAGAIN'), { code: 'ERR_WORKER_INIT_FAILED' }) });
  for (const err of [noThread, new ToolkitError('ERR_MODEL_LOAD', 'model_fn failed'), new Error('plain')]) {
    assert.equal(isOutOfDescriptors(err), false);
    assert.equal(isOutOfDescriptors(across(err)), false);
    assert.equal('outOfDescriptors' in toWireError(err), false, 'nothing more crosses for other errors');
  }
});

test('an error whose details hold what cannot cross the thread (a function, a symbol) still crosses, with the details JSON carries', () => {
  const wire = toWireError(new ToolkitError('ERR_BAD_REQUEST', 'bad row', { details: { check: () => 1, s: Symbol('s'), row: 2 } }));
  // postMessage clones as structuredClone does. Before, it threw DataCloneError in the thread, and
  // the request went unanswered until its timeout.
  const crossed = fromWireError(structuredClone(wire));
  assert.equal(crossed.code, 'ERR_BAD_REQUEST');
  assert.equal(crossed.message, 'bad row');
  assert.deepEqual(crossed.details, { row: 2 });
});
