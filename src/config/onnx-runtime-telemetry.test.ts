import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ORT_TELEMETRY_SWITCH, defaultOnnxRuntimeTelemetryOff } from './onnx-runtime-telemetry.js';

test('ONNX Runtime telemetry is turned off when nobody chose: the variable unset or empty becomes 1', () => {
  for (const env of [{}, { [ORT_TELEMETRY_SWITCH]: '' }] as NodeJS.ProcessEnv[]) {
    assert.equal(defaultOnnxRuntimeTelemetryOff(env), true);
    assert.equal(env[ORT_TELEMETRY_SWITCH], '1');
    // A second call (the CLI, then the model loader) changes nothing.
    assert.equal(defaultOnnxRuntimeTelemetryOff(env), false);
    assert.equal(env[ORT_TELEMETRY_SWITCH], '1');
  }
});

test("a user's own ORT_DISABLE_TELEMETRY wins, including 0 (ONNX Runtime's default, telemetry on)", () => {
  for (const value of ['0', 'true', '1', 'false']) {
    const env: NodeJS.ProcessEnv = { [ORT_TELEMETRY_SWITCH]: value };
    assert.equal(defaultOnnxRuntimeTelemetryOff(env), false);
    assert.equal(env[ORT_TELEMETRY_SWITCH], value);
  }
});
