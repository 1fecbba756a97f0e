// mulberry32: a small seeded PRNG so both sides of a threaded test draw the same sequence.
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `dst` with the bytes of record `seq`: a function of (seed, seq, i) both sides can recompute. */
export function fillRecord(dst: Uint8Array, seed: number, seq: number): void {
  let x = (Math.imul(seq, 0x9e3779b1) ^ seed) >>> 0;
  for (let i = 0; i < dst.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    dst[i] = x >>> 24;
  }
}

/** Payload length of record `seq`: 4-byte sequence number plus 0 … maxExtra bytes. */
export function recordLength(seed: number, seq: number, maxExtra: number): number {
  const x = (Math.imul(seq ^ seed, 0x85ebca6b) ^ (seq >>> 13)) >>> 0;
  return 4 + ((Math.imul(x, 0xc2b2ae35) >>> 0) % (maxExtra + 1));
}
