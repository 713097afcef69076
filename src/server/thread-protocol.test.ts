import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolkitError } from '../errors/catalogue.js';
import { descriptorsBusy, isOutOfDescriptors, keptFailed } from '../core/retrying-load.js';
import { fromWireError, toWireError } from './thread-protocol.js';

const emfile = () => Object.assign(new Error('EMFILE: too many open files, open /dev/null'), { code: 'EMFILE' });
const across = (err: unknown) => fromWireError(toWireError(err));

test('a lack of file descriptors is told apart on either side of the thread: found before opening, met on opening, or kept failed by Node; not a refused thread nor a model of its own failing', () => {
  const short = [descriptorsBusy('the runtime'), descriptorsBusy('the runtime', emfile()), keptFailed('the runtime', emfile())];
  for (const err of short) {
    assert.equal(isOutOfDescriptors(err), true, err.message);
    const crossed = across(err);
    assert.equal(isOutOfDescriptors(crossed), true, `across the thread: ${err.message}`);
    assert.deepEqual([crossed.code, crossed.status, crossed.message], [err.code, err.status, err.message]);
  }
  // A thread Node could not create (a limit on threads) is busy too, but a new process would meet the same limit.
  const noThread = new ToolkitError('ERR_SERVER_BUSY', 'the image decoder thread cannot be started now', { cause: Object.assign(new Error('EAGAIN'), { code: 'ERR_WORKER_INIT_FAILED' }) });
  for (const err of [noThread, new ToolkitError('ERR_MODEL_LOAD', 'model_fn failed'), new Error('plain')]) {
    assert.equal(isOutOfDescriptors(err), false);
    assert.equal(isOutOfDescriptors(across(err)), false);
    assert.equal('outOfDescriptors' in toWireError(err), false, 'nothing more crosses for other errors');
  }
});
