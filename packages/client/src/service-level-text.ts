// How the CLI and the dashboard word service levels and circuit breakers, in one place so that
// both say the same.
import type { OpLevelView, SloKind, SloTargets } from './api-types.ts';

/**
 * A success rate in 0..1 as a percentage, to 0.1 %, rounded down so that a rate short of 1 never
 * reads 100 %: 1 → `100%`, 0.6 → `60%`, 0.9996 → `99.9%`. `?` for a value outside 0..1.
 */
export function formatSuccessRate(rate: number): string {
  if (!(rate >= 0 && rate <= 1)) return '?';
  return `${Math.floor(rate * 1000 + 1e-9) / 10}%`;
}

/** A window or cool-down length: `5 min`, `90 s`, `1.5 s`. */
export function formatWindow(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** The target of one SLO kind, e.g. `≤ 250 ms`, `≥ 99%`, or undefined when there is none. */
export function sloTargetText(slo: SloTargets, kind: SloKind): string | undefined {
  if (kind === 'p95') return slo.p95_ms > 0 ? `≤ ${slo.p95_ms} ms` : undefined;
  return slo.success > 0 ? `≥ ${formatSuccessRate(slo.success)}` : undefined;
}

/**
 * The targets in one line: `targets p95 ≤ 250 ms, success ≥ 99% over 5 min`, or
 * `no targets (window 5 min)`.
 */
export function sloTargetsText(slo: SloTargets): string {
  const parts = (['p95', 'success'] as const).flatMap((kind) => {
    const target = sloTargetText(slo, kind);
    return target === undefined ? [] : [`${kind} ${target}`];
  });
  const window = formatWindow(slo.window_ms);
  return parts.length === 0 ? `no targets (window ${window})` : `targets ${parts.join(', ')} over ${window}`;
}

/** An op's violations, e.g. `p95, success`, or `-` when it meets its targets (or is not judged). */
export function violationsText(level: Pick<OpLevelView, 'violations'>): string {
  return level.violations.length === 0 ? '-' : level.violations.join(', ');
}
