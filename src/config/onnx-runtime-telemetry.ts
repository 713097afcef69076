/**
 * ONNX Runtime's own switch for its telemetry. Official builds from 1.29 on Linux and macOS send
 * usage events to Microsoft over HTTPS (the 1DS SDK), keep a device id and an offline event cache
 * under `~/.cache/Microsoft/DeveloperTools/.onnxruntime`, and leave an empty `mat-debug-<pid>.log`
 * in `/tmp` for every process. Set before ONNX Runtime creates its environment, the variable stops
 * all of it for the life of the process (`1` and `true` do, as checked with onnxruntime-node 1.30;
 * `0` leaves ONNX Runtime's default, on). See https://github.com/microsoft/onnxruntime/blob/main/docs/Privacy.md
 */
export const ORT_TELEMETRY_SWITCH = 'ORT_DISABLE_TELEMETRY';

/**
 * Turns ONNX Runtime's telemetry off for this process and every process it starts, unless the user
 * set `ORT_DISABLE_TELEMETRY` themselves (`0` keeps ONNX Runtime's default). A model server sends
 * nothing where it was not asked to, writes nothing outside its own folders, and on a
 * network-isolated endpoint has nowhere to send it anyway. Call it before the first ONNX Runtime
 * session is created; later calls do nothing. Returns whether it set the variable.
 */
export function defaultOnnxRuntimeTelemetryOff(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[ORT_TELEMETRY_SWITCH]) return false;
  env[ORT_TELEMETRY_SWITCH] = '1';
  return true;
}
