// A seeded, realistic mixed workload for the arena: an executor with up to 8 jobs in flight,
// each with 1-3 inputs and an output of mixed sizes, plus a few long-lived cached blobs.
import { create } from '../src/index.ts';

export interface WorkloadResult {
  jobs: number;
  allocations: number;
  failures: number;
  /** Mean of requested/reserved sampled after every job's allocations. */
  efficiency: number;
  minEfficiency: number;
  /** The same requests under plain buddy rounding (to a power of two): the baseline. */
  buddyOnlyEfficiency: number;
  meanFragmentation: number;
  peakReservedBytes: number;
  arenaBytes: number;
  /** Bytes zeroed because a block passed to another task (every job here is another task). */
  zeroedBytes: number;
  /** Mean nanoseconds of one alloc + free pair. */
  nsPerAllocFree: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sizes: 40 % 16 B-4 KiB (params, small vectors), 40 % 4-256 KiB, 20 % 256 KiB-4 MiB, log-uniform. */
function size(r: () => number): number {
  const u = r();
  const [lo, hi] = u < 0.4 ? [16, 4096] : u < 0.8 ? [4096, 262144] : [262144, 4194304];
  return Math.round(Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo))));
}

export function mixedWorkload(
  seed = 42,
  jobs = 20_000,
  arenaBytes = 64 << 20,
  minBlockBytes = 256,
): WorkloadResult {
  const arena = create({ inboxBytes: 64, outboxBytes: 64, arenaBytes, minBlockBytes }).arena;
  const r = rng(seed);
  type Live = ReturnType<typeof arena.alloc> & object;
  const inFlight: Live[][] = [];
  const cached: { h: Live; until: number }[] = [];
  let allocations = 0;
  let failures = 0;
  let effSum = 0;
  let effMin = 1;
  let fragSum = 0;
  let buddyReq = 0;
  let buddyRes = 0;
  let buddySum = 0;
  let peak = 0;
  let ops = 0;
  const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(n / minBlockBytes))));
  const live = new Set<Live>();
  const alloc = (n: number, owner: number): Live | undefined => {
    allocations++;
    const h = arena.alloc(n, owner);
    if (!h) {
      failures++;
      return undefined;
    }
    live.add(h);
    buddyReq += n;
    buddyRes += pow2(n) * minBlockBytes;
    return h;
  };
  const free = (h: Live): void => {
    arena.free(h);
    live.delete(h);
    buddyReq -= h.length;
    buddyRes -= pow2(h.length) * minBlockBytes;
  };
  const t0 = performance.now();
  for (let j = 0; j < jobs; j++) {
    const owner = (j % 1000) + 1;
    const blocks: Live[] = [];
    const inputs = 1 + Math.floor(r() * 3);
    for (let i = 0; i <= inputs; i++) {
      const h = alloc(size(r), owner);
      if (h) blocks.push(h);
    }
    if (r() < 0.05) {
      const h = alloc(size(r), owner);
      if (h) cached.push({ h, until: j + 200 + Math.floor(r() * 800) });
    }
    ops += inputs + 1;
    inFlight.push(blocks);
    if (inFlight.length > 8) for (const h of inFlight.shift()!) free(h);
    for (let c = cached.length - 1; c >= 0; c--) {
      if (cached[c]!.until <= j) {
        free(cached[c]!.h);
        cached.splice(c, 1);
      }
    }
    const s = arena.stats();
    effSum += s.efficiency;
    effMin = Math.min(effMin, s.efficiency);
    fragSum += s.fragmentation;
    buddySum += buddyRes === 0 ? 1 : buddyReq / buddyRes;
    peak = Math.max(peak, s.reservedBytes);
  }
  const ms = performance.now() - t0;
  for (const h of [...live]) free(h);
  const zeroedBytes = arena.stats().zeroedBytes;
  const end = arena.stats();
  if (end.largestFreeBlock !== arenaBytes) throw new Error('the arena did not coalesce back to one block');
  return {
    jobs,
    allocations,
    failures,
    efficiency: effSum / jobs,
    minEfficiency: effMin,
    buddyOnlyEfficiency: buddySum / jobs,
    meanFragmentation: fragSum / jobs,
    peakReservedBytes: peak,
    arenaBytes,
    zeroedBytes,
    // Includes zeroing for the next task and a stats() call per job: an upper bound.
    nsPerAllocFree: (ms * 1e6) / ops,
  };
}
