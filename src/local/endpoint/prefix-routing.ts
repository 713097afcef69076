import { createHash } from 'node:crypto';

/**
 * A variant's `PrefixAwareRoutingConfig` (`RoutingStrategy` `PREFIX_AWARE`,
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PrefixAwareRoutingConfig.html).
 */
export interface PrefixAwareRouting {
  /** Bytes from the start of the request body that choose the instance. */
  prefixLength: number;
  /** Requests in flight on the chosen instance at which the least busy instance takes the request instead. */
  concurrencyThreshold: number;
}

/** What one request brings to a prefix-aware choice of instance: its prefix's key and the variant's threshold. */
export interface PrefixChoice {
  /** {@link prefixKey} of the request, computed only when asked (a request of a live session never is). */
  key: () => Buffer;
  /** The variant's `ConcurrencyThreshold`: requests in flight on the owner at which another instance takes the request. */
  threshold: number;
}

/**
 * The routing key of a request: a digest of its `PrefixAwareId` (when given) and the first
 * `prefixLength` bytes of its body. Requests with the same id and prefix get the same key; the id
 * is length-prefixed so no id and body can pass for another pair.
 */
export function prefixKey(body: Buffer, prefixLength: number, prefixAwareId?: string): Buffer {
  const hash = createHash('sha256');
  hash.update(prefixAwareId === undefined ? '-' : `${Buffer.byteLength(prefixAwareId)}:${prefixAwareId}`);
  hash.update(body.subarray(0, prefixLength));
  return hash.digest();
}

/** A candidate's score for `key`: 48 bits of a digest of both, so every instance ranks the keys independently. */
function score(key: Buffer, slot: number): number {
  const slotBytes = Buffer.alloc(4);
  slotBytes.writeUInt32BE(slot >>> 0);
  return createHash('sha256').update(key).update(slotBytes).digest().readUIntBE(0, 6);
}

/**
 * The candidate that owns `key`: the highest of their scores (rendezvous hashing). The owner of a
 * key depends only on the key and that candidate's `slot`, so adding or removing an instance moves
 * only the keys it wins or owned, and a replacement that takes over a dead instance's slot takes
 * over its keys. Throws when there is no candidate.
 */
export function ownerOf<T>(key: Buffer, candidates: readonly T[], slotOf: (candidate: T) => number): T {
  let best: T | undefined;
  let bestScore = -1;
  for (const c of candidates) {
    const s = score(key, slotOf(c));
    if (s > bestScore) {
      best = c;
      bestScore = s;
    }
  }
  if (best === undefined) throw new Error('no instance to route a prefix to');
  return best;
}
