import fsCallbacks from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/**
 * Runs `run` with the open of every file write stream it makes (`fs.createWriteStream`) held until
 * `run` settles (or 500 ms after the first was made, for code that waits for the open), as on a
 * busy disk; `onOpen` is called when such a stream is made. Resolves with how `run` settled, once
 * the held open is done: a file that code removed on its failure before that open is there again.
 */
export async function withHeldFileOpen(run: () => Promise<unknown>, onOpen: () => void = () => undefined): Promise<PromiseSettledResult<unknown>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let opened!: () => void;
  const openDone = new Promise<void>((resolve) => (opened = resolve));
  let timer: NodeJS.Timeout | undefined;
  const realCreateWriteStream = fsCallbacks.createWriteStream;
  fsCallbacks.createWriteStream = ((file: string, options?: object) => {
    timer ??= setTimeout(release, 500);
    onOpen();
    return realCreateWriteStream(file, {
      ...options,
      fs: {
        open: (...args: unknown[]) => void released.then(() => {
          const callback = args.pop() as (err: Error | null, fd: number) => void;
          (fsCallbacks.open as (...a: unknown[]) => void)(...args, (err: Error | null, fd: number) => { callback(err, fd); opened(); });
        }),
        write: fsCallbacks.write,
        writev: fsCallbacks.writev,
        close: fsCallbacks.close,
      },
    });
  }) as typeof fsCallbacks.createWriteStream;
  syncBuiltinESMExports();
  try {
    const [outcome] = await Promise.allSettled([run()]);
    release();
    clearTimeout(timer);
    if (timer !== undefined) await openDone;
    return outcome!;
  } finally {
    fsCallbacks.createWriteStream = realCreateWriteStream;
    syncBuiltinESMExports();
  }
}
