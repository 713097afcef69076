import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DataCaptureConfig } from '../endpoint-file/schema.js';
import { buildCaptureRecord, type CaptureEvent } from './record.js';

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `<dest>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, by UTC invocation time (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html). */
export function capturePartition(destination: string, endpoint: string, variant: string, at: Date): string {
  return join(destination, endpoint, variant, String(at.getUTCFullYear()), pad(at.getUTCMonth() + 1), pad(at.getUTCDate()), pad(at.getUTCHours()));
}

/** `<MM>-<SS>-<mmm>-<uuid>.jsonl`, the file-name shape seen in AWS capture output. */
export function captureFileName(at: Date): string {
  return `${pad(at.getUTCMinutes())}-${pad(at.getUTCSeconds())}-${pad(at.getUTCMilliseconds(), 3)}-${randomUUID()}.jsonl`;
}

/**
 * Writes Model Monitor data-capture records for one endpoint: samples by percentage, keeps one
 * file per variant and hour, and appends whole lines in order.
 */
export class CaptureWriter {
  private readonly files = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private failures = 0;
  /** Records written so far (for tests and the shutdown summary). */
  written = 0;

  constructor(
    readonly endpoint: string,
    readonly config: DataCaptureConfig,
    private readonly random: () => number = Math.random,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** Decides by the sampling percentage whether to capture the next invocation. */
  sample(): boolean {
    return this.random() * 100 < this.config.samplingPercentage;
  }

  /** Queues a record for `variant`; never throws into the request path. */
  capture(variant: string, event: CaptureEvent): void {
    const record = buildCaptureRecord(
      {
        ...event,
        input: this.config.captureInput ? event.input : undefined,
        output: this.config.captureOutput ? event.output : undefined,
      },
      this.config,
    );
    const file = this.fileFor(variant, event.at);
    const line = `${JSON.stringify(record)}\n`;
    this.queue = this.queue
      .then(async () => {
        await mkdir(dirname(file), { recursive: true });
        await appendFile(file, line);
        this.written += 1;
      })
      .catch((err: Error) => {
        this.failures += 1;
        this.onError(err);
      });
  }

  /** Resolves once every queued record is on disk. */
  async flush(): Promise<void> {
    await this.queue;
  }

  private fileFor(variant: string, at: Date): string {
    const dir = capturePartition(this.config.destination, this.endpoint, variant, at);
    let file = this.files.get(`${variant}\0${dir}`);
    if (!file) {
      file = join(dir, captureFileName(at));
      this.files.set(`${variant}\0${dir}`, file);
    }
    return file;
  }
}
