import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * The hex SHA-256 of a file, read as a stream: a model archive may be larger than the 2 GiB
 * `fs.readFile` can hold in one buffer.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
