import { createReadStream, promises as fs } from 'node:fs';

/** A container's answer kept on disk: one past {@link SPOOL_AFTER_BYTES} is written to `file` as it comes. */
export interface SpooledAnswer {
  readonly file: string;
  readonly size: number;
}

/** A mini-batch's answer (or one record's part of it), in memory or spooled to a file. */
export type Answer = Buffer | SpooledAnswer;

/**
 * Bytes of an answer held in memory; past them the rest goes to a spool file, so that a container
 * answering hundreds of MB (or answers waiting for an earlier mini-batch's) never fills memory.
 */
export const SPOOL_AFTER_BYTES = 8 * 1024 * 1024;

/**
 * The most an answer that DataProcessing or GenerateInferenceId must cut per record (in memory)
 * may hold: 100 MB, the most a transform job's request may hold.
 */
export const MAX_PROCESSED_ANSWER_BYTES = 100 * 1024 * 1024;

/** An answer over {@link MAX_PROCESSED_ANSWER_BYTES} that has to be held whole: its record fails, and it is not asked again. */
export class AnswerTooLargeError extends Error {
  constructor() {
    super(`the answer is over ${MAX_PROCESSED_ANSWER_BYTES} bytes (100 MB), the most smkit holds to cut an answer per record for DataProcessing (JoinSource, OutputFilter) or GenerateInferenceId`);
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * A spool file that could not be written (a full disk): the file's run breaks, as when its `.out`
 * cannot be written; the same answer asked again would meet the same disk.
 */
export class AnswerSpoolError extends Error {
  constructor(file: string, cause: Error) {
    super(`could not write the container's answer to ${file}: ${cause.message}`, { cause });
    this.name = 'AnswerSpoolError';
  }
}

/** Whether `answer` is on disk. */
export const isSpooled = (answer: Answer): answer is SpooledAnswer => !Buffer.isBuffer(answer);

/** An answer's length in bytes. */
export const answerSize = (answer: Answer): number => (isSpooled(answer) ? answer.size : answer.length);

/**
 * Appends `parts` to `out` in order (a spooled one read back a block at a time), each followed by
 * `separator` when given.
 */
export async function writeAnswers(out: fs.FileHandle, parts: readonly Answer[], separator?: Buffer): Promise<void> {
  let held: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (held.length > 0) await out.writev(held);
    held = [];
  };
  for (const part of parts) {
    if (isSpooled(part)) {
      await flush();
      let copied = 0;
      // Exactly the bytes spooled: a file changed since is not taken for the answer.
      for await (const block of createReadStream(part.file, { end: part.size - 1 })) {
        copied += (block as Buffer).length;
        await out.write(block as Buffer);
      }
      if (copied !== part.size) throw new Error(`${part.file} holds ${copied} of the ${part.size} bytes of the answer spooled to it`);
    } else held.push(part);
    if (separator) held.push(separator);
  }
  await flush();
}

/** Removes the spool files of `parts`. */
export async function discardAnswers(parts: readonly Answer[]): Promise<void> {
  await Promise.all(parts.filter(isSpooled).map((p) => fs.rm(p.file, { force: true })));
}
