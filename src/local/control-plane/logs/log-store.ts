import type { LineSink } from '../../backends/line-tap.js';

/** Bytes CloudWatch Logs counts for an event beyond its message's UTF-8 bytes (PutLogEvents' batch size rule). */
export const EVENT_OVERHEAD_BYTES = 26;

/** One log event as stored: its place in its stream and in the whole store, and its size as CloudWatch counts it. */
export interface StoredLogEvent {
  /** Position in its stream, from 1; events dropped for the cap keep their numbers used. */
  readonly seq: number;
  /** Position among every event of the store: orders events of several streams that share a timestamp. */
  readonly order: number;
  readonly timestamp: number;
  readonly ingestionTime: number;
  readonly message: string;
  /** The message's UTF-8 bytes plus {@link EVENT_OVERHEAD_BYTES}. */
  readonly bytes: number;
}

/** A log stream: its events in the order they were written, oldest dropped past the store's cap. */
export class StoredLogStream {
  private readonly kept: StoredLogEvent[] = [];
  /** Index in `kept` of the oldest event still kept (dropped ones are cut off in batches). */
  private head = 0;
  private keptBytes = 0;
  private lastSeq = 0;

  constructor(
    readonly group: StoredLogGroup,
    readonly name: string,
    readonly creationTime: number,
  ) {}

  /** The events kept, oldest first (a live view: do not hold it across an append). */
  get events(): readonly StoredLogEvent[] {
    return this.head === 0 ? this.kept : this.kept.slice(this.head);
  }

  /**
   * The array the kept events are in, oldest first from {@link firstKept} on (a live view: do not
   * hold it across an append). Unlike {@link events} it copies nothing: a stream at its cap has
   * dropped events since almost every read, and a search reads every stream of a group.
   */
  get keptArray(): readonly StoredLogEvent[] {
    return this.kept;
  }

  /** The index in {@link keptArray} of the oldest event kept. */
  get firstKept(): number {
    return this.head;
  }

  /** How many events it keeps. */
  get eventCount(): number {
    return this.kept.length - this.head;
  }

  /** The number of the last event written (0 before any): what a forward token at the end names. */
  get lastWrittenSeq(): number {
    return this.lastSeq;
  }

  /** The time of the oldest event kept, if any. */
  get firstEventTimestamp(): number | undefined {
    return this.kept[this.head]?.timestamp;
  }

  /** The newest event, if any. */
  get lastEvent(): StoredLogEvent | undefined {
    return this.head < this.kept.length ? this.kept[this.kept.length - 1] : undefined;
  }

  /** UTF-8 bytes (plus the per-event overhead) of the events kept. */
  get storedBytes(): number {
    return this.keptBytes;
  }

  /** The time of the newest event kept, if any, or of its creation: how long ago it was written to. */
  get lastActivity(): number {
    return this.lastEvent?.timestamp ?? this.creationTime;
  }

  /**
   * Adds an event at `now` (never earlier than the last one, so a stream's events stay in time order),
   * then drops the oldest past `maxBytes`. Returns how many bytes the stream keeps more than before.
   */
  append(message: string, now: number, order: number, maxBytes: number): number {
    const before = this.keptBytes;
    const timestamp = Math.max(now, this.lastEvent?.timestamp ?? 0);
    const bytes = Buffer.byteLength(message, 'utf8') + EVENT_OVERHEAD_BYTES;
    this.kept.push({ seq: ++this.lastSeq, order, timestamp, ingestionTime: timestamp, message, bytes });
    this.keptBytes += bytes;
    this.dropOldest(maxBytes);
    return this.keptBytes - before;
  }

  /** Drops the oldest events until the stream keeps at most `maxBytes`, or only its newest event; returns the bytes dropped. */
  dropOldest(maxBytes: number): number {
    const before = this.keptBytes;
    // The newest event stays even when it alone is over the cap.
    while (this.keptBytes > maxBytes && this.kept.length - this.head > 1) {
      this.keptBytes -= this.kept[this.head]!.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept.splice(0, this.head);
      this.head = 0;
    }
    return before - this.keptBytes;
  }
}

/** A log group and its streams. */
export class StoredLogGroup {
  readonly streams = new Map<string, StoredLogStream>();

  constructor(
    readonly name: string,
    readonly creationTime: number,
  ) {}

  /** The bytes its streams keep. */
  get storedBytes(): number {
    let total = 0;
    for (const s of this.streams.values()) total += s.storedBytes;
    return total;
  }
}

/** Options of {@link LogStore}. */
export interface LogStoreOptions {
  /** Most bytes (UTF-8 message bytes plus 26 per event) a stream keeps; its oldest events are dropped beyond. */
  readonly maxStreamBytes: number;
  /**
   * Most bytes all streams keep together; beyond it the oldest events of the largest stream (of two
   * as large, the one written to longest ago) are dropped, each stream keeping its newest event.
   * @defaultValue unbounded
   */
  readonly maxTotalBytes?: number;
  /** Injectable time source (tests). @defaultValue Date.now */
  readonly now?: () => number;
}

/**
 * The local CloudWatch Logs' data: log groups of log streams of events, in memory. Processes write
 * lines through {@link LogStore.sink}; each line becomes an event stamped when it was read.
 */
export class LogStore {
  readonly groups = new Map<string, StoredLogGroup>();
  private order = 0;
  private readonly maxStreamBytes: number;
  private readonly maxTotalBytes: number;
  private totalBytes = 0;
  private readonly now: () => number;

  constructor(opts: LogStoreOptions) {
    this.maxStreamBytes = opts.maxStreamBytes;
    this.maxTotalBytes = opts.maxTotalBytes ?? Infinity;
    this.now = opts.now ?? Date.now;
  }

  /** The stream `streamName` of `groupName`, created (with its group) when missing. */
  stream(groupName: string, streamName: string): StoredLogStream {
    let group = this.groups.get(groupName);
    if (!group) {
      group = new StoredLogGroup(groupName, this.now());
      this.groups.set(groupName, group);
    }
    let stream = group.streams.get(streamName);
    if (!stream) {
      stream = new StoredLogStream(group, streamName, this.now());
      group.streams.set(streamName, stream);
    }
    return stream;
  }

  /** Creates the stream now (it is listed before its first event, as a started instance's stream is) and returns what writes lines to it. */
  sink(groupName: string, streamName: string): LineSink {
    const stream = this.stream(groupName, streamName);
    return (line) => {
      this.totalBytes += stream.append(line, this.now(), ++this.order, this.maxStreamBytes);
      if (this.totalBytes > this.maxTotalBytes) this.trim();
    };
  }

  /** UTF-8 bytes (plus the per-event overhead) of the events all streams keep. */
  get storedBytes(): number {
    return this.totalBytes;
  }

  /** Drops the oldest events of the largest streams until all keep at most the total cap together (or each only its newest event). */
  private trim(): void {
    while (this.totalBytes > this.maxTotalBytes) {
      let largest: StoredLogStream | undefined;
      let next = 0;
      for (const group of this.groups.values()) {
        for (const s of group.streams.values()) {
          if (s.eventCount < 2) continue;
          if (!largest || s.storedBytes > largest.storedBytes || (s.storedBytes === largest.storedBytes && s.lastActivity < largest.lastActivity)) {
            next = Math.max(next, largest?.storedBytes ?? 0);
            largest = s;
          } else next = Math.max(next, s.storedBytes);
        }
      }
      if (!largest) return;
      // Down to what fits, or to the next largest stream's size (then that one is the largest), by one event at least.
      const over = this.totalBytes - this.maxTotalBytes;
      const dropped = largest.dropOldest(Math.min(largest.storedBytes - 1, Math.max(next, largest.storedBytes - over)));
      if (dropped === 0) return;
      this.totalBytes -= dropped;
    }
  }
}
