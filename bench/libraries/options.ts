// What the library benches share: their integer options and the median of their runs.

/** `--name N` from the command line: a positive integer, or `fallback` when absent. */
export function intOption(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`bench: ${name} takes a positive integer`);
  return value;
}

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
