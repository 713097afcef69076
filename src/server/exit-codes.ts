/**
 * Exit codes a worker process uses to tell the primary why it ended, where a message could not
 * arrive in time (the process exits at once).
 */

/** The worker could not bind the port (EADDRINUSE, EACCES): fatal for the whole server. */
export const EXIT_LISTEN_FAILED = 78;
