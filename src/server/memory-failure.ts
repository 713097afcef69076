/**
 * A failure for lack of memory: V8 ("JS heap out of memory", "allocation failed"), the C library,
 * C++ (std::bad_alloc), CUDA ("out of memory"), ONNX Runtime's allocator ("Failed to allocate memory
 * for requested buffer of size …"), TensorFlow's ("OOM when allocating tensor …"), and the GPU
 * libraries ONNX Runtime's CUDA and TensorRT providers report in their own words: cuBLAS and cuDNN
 * ("CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED") and TensorRT
 * ("Error Code 2: OutOfMemory", "Requested amount of GPU memory (… bytes) could not be allocated").
 */
const MEMORY_FAILURE = /out of memory|OutOfMemory|ENOMEM|bad_alloc|allocation failed|Cannot allocate memory|Failed to allocate memory|OOM when allocating|_STATUS_ALLOC_FAILED|GPU memory \([^)]*\) could not be allocated/i;

/**
 * True when `message` says something ran out of memory, in any of the words above. Words holding a
 * `/` are left out: they are paths (the model's, which a load failure's message names) and source
 * locations, whose letters are names, not what happened. A model whose folder or file is called
 * `OutOfMemoryNet` and fails to load for another reason is a 500, not the 507 on which SageMaker
 * unloads other models.
 */
export function isMemoryFailure(message: string): boolean {
  // Split, not a /\S*\/\S*/g replace: that scans a long word without a "/" once per character.
  return MEMORY_FAILURE.test(
    message
      .split(/\s+/)
      .filter((word) => !word.includes('/'))
      .join(' '),
  );
}

/**
 * What a worker process ended by `signal` most likely met, and what to do, for the line that logs
 * its end; undefined for a signal that says nothing of it. Not for a process smkit killed itself
 * (a blocked worker, the end of the grace period), which is logged as such.
 */
export function signalledDeathCause(signal: string | null): string | undefined {
  switch (signal) {
    case 'SIGKILL':
      return "killed from outside smkit, most often by the kernel's out-of-memory killer, when the container's memory cannot hold every worker process's copy of the model and its requests (the kernel log, dmesg, says so); give the container more memory, or lower SAGEMAKER_MODEL_SERVER_WORKERS";
    case 'SIGABRT':
      return 'the process aborted. If its last lines on stderr say "JavaScript heap out of memory", its JavaScript heap was full: give the workers more heap (NODE_OPTIONS=--max-old-space-size=<MB>) or the container more memory, or run handler code in an inference thread (SMKIT_INFERENCE_MODE=auto or thread), where running out of heap ends only the thread. Otherwise native code aborted (an addon such as onnxruntime-node failing a check of its own, or Node itself), and the lines it wrote to stderr before the end say why';
    default:
      return undefined;
  }
}
