/**
 * Where each 32-bit half of a 64-bit value (an int64, a float64's bits) sits in an Int32Array or
 * Uint32Array view of it on this machine: the low half first on little-endian hosts, as every host
 * Node runs on in practice is. Read once here rather than by each module that splits 64-bit values.
 */
export const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Index of a 64-bit value's low 32 bits in a 32-bit view (0 on little-endian hosts). */
export const LOW_HALF = LITTLE_ENDIAN_HOST ? 0 : 1;

/** Index of a 64-bit value's high 32 bits in a 32-bit view (1 on little-endian hosts). */
export const HIGH_HALF = 1 - LOW_HALF;
