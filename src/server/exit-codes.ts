/**
 * Exit codes a worker process uses to tell the primary why it ended, where a message could not
 * arrive in time (the process exits at once).
 */

/** The worker could not bind the port (EADDRINUSE, EACCES): fatal for the whole server. */
export const EXIT_LISTEN_FAILED = 78;

/**
 * A single model's load failed for want of something this worker process lacks (file descriptors;
 * code Node keeps failed once its import failed): a new worker process may load it.
 */
export const EXIT_PROCESS_CANNOT_LOAD = 79;

/**
 * A worker that replaced one of a server already ready could not load the model (its load failed,
 * or did not end within `SAGEMAKER_STARTUP_TIMEOUT`): it took no connections, and a new one is
 * started after the usual back-off while the others serve.
 */
export const EXIT_REPLACEMENT_NOT_LOADED = 80;

/**
 * The single model served, its inference thread ended, and the reload failed, in a server of more
 * than one worker: a new process loads it while the others serve, where this one would answer its
 * share of `/ping` and invocations 503 for good.
 */
export const EXIT_RELOAD_FAILED = 81;
