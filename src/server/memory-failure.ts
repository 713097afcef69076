/**
 * A failure for lack of memory: V8 ("JS heap out of memory", "allocation failed"), the C library,
 * C++ (std::bad_alloc), CUDA ("out of memory"), ONNX Runtime's allocator ("Failed to allocate memory
 * for requested buffer of size …") and TensorFlow's ("OOM when allocating tensor …").
 */
const MEMORY_FAILURE = /out of memory|ENOMEM|bad_alloc|allocation failed|Cannot allocate memory|Failed to allocate memory|OOM when allocating/i;

/** True when `message` says something ran out of memory, in any of the words above. */
export function isMemoryFailure(message: string): boolean {
  return MEMORY_FAILURE.test(message);
}
