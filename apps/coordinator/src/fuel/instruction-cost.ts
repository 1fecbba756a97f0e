// The static cost table of fuel metering, shared by the meter and by the tests' exact counter so
// that both count the same unit.
import { expressionId } from './binaryen-raw.ts';

const BLOCK = expressionId('Block');
const POP = expressionId('Pop');

/**
 * Fuel units that one execution of a binaryen expression costs: 1 per instruction, 0 for a
 * `block` (a branch label, no work) and for `pop` (binaryen's name for a value already on the
 * stack at the start of a catch). Units are instructions of the module as binaryen writes it.
 */
export function instructionCost(id: number): number {
  return id === BLOCK || id === POP ? 0 : 1;
}
