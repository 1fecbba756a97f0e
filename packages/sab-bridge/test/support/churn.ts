// Random alloc / fill / verify / free on a shared arena, run by two threads at once in
// arena-threads.test.ts. Each thread owns its bytes (fill value = owner): a block must come back
// zeroed or still holding this owner's bytes, and keep them until freed.
import type { Arena, ArenaHandle } from '../../src/index.ts';
import { rng } from './rng.ts';

export interface ChurnReport {
  allocs: number;
  frees: number;
  refused: number;
  errors: number;
  firstError: string;
}

export function churn(arena: Arena, seed: number, owner: number, iterations: number): ChurnReport {
  const r = rng(seed);
  const live: ArenaHandle[] = [];
  const rep: ChurnReport = { allocs: 0, frees: 0, refused: 0, errors: 0, firstError: '' };
  const fail = (why: string): void => {
    rep.errors++;
    if (!rep.firstError) rep.firstError = why;
  };
  const release = (h: ArenaHandle): void => {
    const v = arena.bytes(h);
    let intact = v.length === 0 || v[v.length - 1] === owner;
    for (let i = 0; intact && i < v.length; i += 61) intact = v[i] === owner;
    if (!intact) fail(`owner ${owner}: block ${h.offset} changed under it`);
    arena.free(h);
    rep.frees++;
  };
  for (let it = 0; it < iterations; it++) {
    if (live.length < 12 && r() < 0.6) {
      const len = 1 + Math.floor(r() ** 3 * 200_000);
      const h = arena.alloc(len, owner);
      if (!h) {
        rep.refused++;
        continue;
      }
      const v = arena.bytes(h);
      for (let i = 0; i < v.length; i += 61) {
        if (v[i] !== 0 && v[i] !== owner) {
          fail(`owner ${owner}: got a block holding ${v[i]}`);
          break;
        }
      }
      v.fill(owner);
      live.push(h);
      rep.allocs++;
    } else if (live.length > 0) {
      release(live.splice(Math.floor(r() * live.length), 1)[0]!);
    }
  }
  for (const h of live.splice(0)) release(h);
  return rep;
}
