/** Options for {@link serve}; CLI flags that override the environment. */
export interface ServeOptions {
  modelDir?: string;
  port?: number;
  workers?: number;
}

/** Starts the server (placeholder while the serving core is written). */
export async function serve(_opts: ServeOptions): Promise<void> {
  throw new Error('serve: not implemented yet');
}
