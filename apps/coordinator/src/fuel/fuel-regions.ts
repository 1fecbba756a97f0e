// Metered regions of one function and where each is charged. A region is opened with an empty
// placeholder block put where it starts; code is added to it as the meter walks; `close` then
// fills each placeholder with the charge of its region (binaryen writes an empty nameless block
// as nothing, so a region without code costs nothing).
import binaryen from 'binaryen';
import { type ExpressionRef, rawFunction } from './binaryen-raw.ts';
import type { FuelCode, FuelPlace } from './fuel-code.ts';

/**
 * Where a region starts: `entry` (function entry), `loop` (a loop header, charged every
 * iteration), `arm` (an `if` arm), `join` (the code after a block that branches can end),
 * `fallthrough` (the code after a `br_if`, run when it does not branch).
 */
export type RegionKind = 'entry' | 'loop' | 'arm' | 'join' | 'fallthrough';

/** One metered region: `cost` units, charged at `placeholder` each time control passes there. */
export interface Region {
  readonly kind: RegionKind;
  readonly placeholder: ExpressionRef;
  cost: number;
}

const appendChild = rawFunction('BlockAppendChild');

/** The regions of one function, in the order the meter opened them. */
export class RegionPlan {
  private readonly regions: Region[] = [];

  constructor(private readonly module: binaryen.Module) {}

  open(kind: RegionKind): Region {
    const region: Region = { kind, placeholder: this.module.block(null, [], binaryen.none), cost: 0 };
    this.regions.push(region);
    return region;
  }

  /**
   * Writes every charge. Entry and loop regions charge at least 1, so that every call and every
   * iteration costs fuel, and only they check for exhaustion: fuel can dip below zero between two
   * checks, but never runs a loop iteration, a call, or a store to the global below zero
   * (FuelCode.store checks too).
   */
  close(code: FuelCode, place: FuelPlace): void {
    for (const region of this.regions) {
      const required = region.kind === 'entry' || region.kind === 'loop';
      const cost = required ? Math.max(1, region.cost) : region.cost;
      if (cost === 0) continue;
      for (const expr of code.charge(place, cost, required)) appendChild(region.placeholder, expr);
    }
  }
}
