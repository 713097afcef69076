import type { LineSink } from './line-tap.js';

/** What a backend needs to start one container of a local endpoint. */
export interface ContainerSpec {
  /** `<endpoint>/<variant>/<hostname>`: names the container in progress lines and errors. */
  id: string;
  /** Container hostname (SageMaker `ContainerHostname`, or `primary`/`container-N`). */
  hostname: string;
  /** The prepared `/opt/ml` tree for this container (its `model/` already filled, unless {@link ContainerSpec.modelDir} is set). */
  optMlDir: string;
  /**
   * A model folder served in place instead of `<optMlDir>/model` (batch transform and
   * `package --verify` of a model directory: nothing is copied). The process backend passes it
   * as `SM_MODEL_DIR`; the docker backend mounts it read-only at `/opt/ml/model`.
   */
  modelDir?: string;
  /** Environment from the endpoint file (the backend adds `SAGEMAKER_BIND_TO_PORT`, and `SAGEMAKER_SAFE_PORT_RANGE` when given). */
  env: Record<string, string>;
  /** Port the container must listen on (`SAGEMAKER_BIND_TO_PORT`), reachable on 127.0.0.1. */
  port: number;
  /**
   * `SAGEMAKER_SAFE_PORT_RANGE` as `[low, high]`, inclusive: where a container of a multi-container
   * model may listen on a second port. Like `SAGEMAKER_BIND_TO_PORT`, it wins over {@link ContainerSpec.env}.
   */
  safePortRange?: readonly [number, number];
  /** File that receives the container's stdout and stderr. */
  logFile: string;
  /** Also receives each line of the container's stdout and stderr (the local CloudWatch Logs). */
  logLines?: LineSink;
  /** Image (docker backend only). */
  image?: string;
  /** Memory limit in MB: `docker run --memory` (the process backend does not enforce it). */
  memoryMb?: number;
  /** A multi-model container: started with `SAGEMAKER_MULTI_MODEL=true` and `<optMlDir>/models` as its models folder. */
  multiModel?: boolean;
  /** Its instance type has NVIDIA GPUs on SageMaker: the docker backend passes this machine's through when it has any. */
  gpus?: boolean;
  /**
   * With `gpus`: how many GPUs the container takes (an inference component copy's
   * `NumberOfAcceleratorDevicesRequired`), which SageMaker gives each copy to itself. The docker
   * backend then gives it that many of this machine's GPUs, the least taken, rather than all of them.
   */
  gpuCount?: number;
}

/** A started container. */
export interface RunningContainer {
  readonly spec: ContainerSpec;
  /** Base URL, for example `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Set once the container's process has exited (with its exit code or signal). */
  readonly exited: { code: number | null; signal: string | null } | undefined;
  /** Resolves when the process exits. */
  readonly exitPromise: Promise<void>;
  /** The process the backend started: the `smkit serve` primary (process backend) or the `docker run` client (docker backend). */
  readonly pid?: number;
  /**
   * The `SMKIT_INSTANCE_ID` the container's `/ping` answers carry (process backend): a 200 without
   * it comes from another server that holds the port, not from this container.
   */
  readonly instanceId?: string;
  /**
   * Why the container exited, when the backend can tell better than its exit status: the docker
   * backend's engine that could not give a GPU instance type's container the GPUs.
   */
  readonly exitHint?: string;
  /** Stops the container: SIGTERM (drain), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts containers one way or another (a child process, a docker/podman container). */
export interface ContainerBackend {
  readonly name: 'process' | 'docker';
  start(spec: ContainerSpec): Promise<RunningContainer>;
}
