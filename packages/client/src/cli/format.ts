// Plain-text helpers shared by the CLI's commands: aligned tables and positional checks.
import { UsageError } from './exit-codes.ts';

/** Columns padded to their widest cell, two spaces apart, one row a line. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

/** The one positional a command takes; a usage error otherwise. */
export function one(args: string[], usage: string): string {
  if (args.length !== 1) throw new UsageError(`usage: flock ${usage}`);
  return args[0]!;
}

/** A command that takes no positional. */
export function none(args: string[], usage: string): void {
  if (args.length !== 0) throw new UsageError(`usage: flock ${usage}`);
}
