import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { ContainerBackend } from '../backends/backend.js';
import { createFrontDoor } from '../front-door/app.js';
import { createLocalSageMaker } from './local-sagemaker.js';

test('with the docker backend CreateTrainingJob is refused, naming the process backend, and nothing is created', async () => {
  const docker: ContainerBackend = { name: 'docker', start: () => Promise.reject(new Error('not used')) };
  const sm = await createLocalSageMaker({ backendImpl: docker, alarmsAndScaling: false, settings: {} });
  try {
    const app = createFrontDoor({ endpoints: sm.directory(), services: sm.services });
    const job = {
      TrainingJobName: 'j',
      RoleArn: 'arn:aws:iam::123456789012:role/R',
      AlgorithmSpecification: { TrainingImage: 'img', TrainingInputMode: 'File' },
      OutputDataConfig: { S3OutputPath: 's3://b/out' },
    };
    const res = await request(app).post('/').set('X-Amz-Target', 'SageMaker.CreateTrainingJob').set('Content-Type', 'application/x-amz-json-1.1').send(JSON.stringify(job));
    assert.equal(res.status, 400);
    const body = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(body.__type, 'ValidationException');
    assert.match(body.message, /process backend only/);
    assert.equal(sm.store.trainingJobs.size, 0);
  } finally {
    await sm.stop();
  }
});
