/** Signals the process exit code from a command without printing a stack trace (only `cli/main.ts` exits). */
export class ExitError extends Error {
  constructor(readonly exitCode: number, message = '') {
    super(message);
    this.name = 'ExitError';
  }
}
