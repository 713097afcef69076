// What DescribeTrainingJob gives back for a job as the store holds it, whatever its run took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlaneStore } from './store.js';
import { TrainingJobs } from './training-jobs.js';
import type { S3Objects } from '../s3/objects.js';

test('TrainingTimeInSeconds and BillableTimeInSeconds are at least 1 (the service model\'s minimum), also for a job that ended within half a second of its start', (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'smkit-describe-'));
  t.after(() => rmSync(workDir, { recursive: true, force: true }));
  const store = new ControlPlaneStore();
  const jobs = new TrainingJobs({ store, workDir, s3: () => ({}) as S3Objects, backend: 'process' });
  const started = new Date('2026-12-01T00:00:00.000Z');
  const at = (ms: number): Date => new Date(started.getTime() + ms);
  const record = (name: string, endMs: number) =>
    store.trainingJobs.set(name, {
      name,
      arn: store.arn('training-job', name),
      createdAt: started,
      lastModified: at(endMs),
      request: { EnableManagedSpotTraining: true },
      status: 'Stopped',
      secondaryStatus: 'Stopped',
      transitions: [],
      modelArtifacts: `s3://b/${name}/output/model.tar.gz`,
      trainingStartedAt: started,
      trainingEndedAt: at(endMs),
    });
  // The SageMaker Python SDK's logs_for_job divides BillableTimeInSeconds by TrainingTimeInSeconds for a spot job.
  for (const [name, endMs, want] of [['quick', 120, 1], ['none', 0, 1], ['longer', 2600, 3]] as const) {
    record(name, endMs);
    const d = jobs.describe(name);
    assert.deepEqual([d.TrainingTimeInSeconds, d.BillableTimeInSeconds], [want, want], name);
  }
  // A job that never started training has neither.
  store.trainingJobs.set('unstarted', { ...store.trainingJobs.get('quick')!, name: 'unstarted', trainingStartedAt: undefined, trainingEndedAt: undefined });
  const d = jobs.describe('unstarted');
  assert.equal('TrainingTimeInSeconds' in d || 'BillableTimeInSeconds' in d, false);
});
