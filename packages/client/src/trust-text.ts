// How the CLI and the dashboard word verification and credit, in one place so that both say the
// same (apps/coordinator/TRUST.md has the rules behind each word).
import { assertNever } from '@flock/protocol';
import type { AcceptedBy, TaskVerification, WorkerView } from './api-types.ts';

/**
 * Where a volunteer stands: `verified` (passed a known-answer check: its results count toward
 * quorums), `new` (not checked yet: its first verified task is a check), `quarantined` (failed a
 * check: its results count for nothing), `unchecked` (the coordinator runs no checks: its results
 * count when a quorum agrees). Quarantine wins over verified, and both over unchecked (a standing
 * from before checks were turned off).
 */
export type TrustStatus = 'verified' | 'new' | 'quarantined' | 'unchecked';

export function trustStatus(worker: Pick<WorkerView, 'vetted' | 'quarantined' | 'unchecked'>): TrustStatus {
  if (worker.quarantined) return 'quarantined';
  if (worker.vetted) return 'verified';
  return worker.unchecked ? 'unchecked' : 'new';
}

const ACCEPTED_BY_TEXT: Record<AcceptedBy, string> = {
  quorum: 'quorum',
  trusted: 'trusted worker',
  single: 'single result',
};

/**
 * One line on a verified task, e.g. `accepted by quorum (2 of 2 agree, 2 returned, mode fixed)`,
 * `pending (1 of 2 agree, 1 returned, 1 running, 2 of at most 5 dispatched, mode fixed)` (running
 * only when some are),
 * `failed (1 of 2 agree, 2 returned, 2 of at most 2 dispatched, mode fixed)`. "a of q agree": the
 * largest group of agreeing results against the quorum it needs. A trusted worker's result is
 * believed alone, so no quorum is counted: `accepted by trusted worker (believed alone, 1
 * returned, mode adaptive)`.
 */
export function verificationText(v: TaskVerification): string {
  const mode = `mode ${v.mode}`;
  if (v.state === 'accepted' && v.accepted_by === 'trusted') {
    return `accepted by trusted worker (believed alone, ${v.returned} returned, ${mode})`;
  }
  const counts = `${v.agreeing} of ${v.quorum} agree, ${v.returned} returned`;
  switch (v.state) {
    case 'accepted':
      return `accepted by ${ACCEPTED_BY_TEXT[v.accepted_by ?? 'quorum']} (${counts}, ${mode})`;
    case 'pending':
    case 'failed': {
      const running = v.running > 0 ? `, ${v.running} running` : '';
      return `${v.state} (${counts}${running}, ${v.dispatched} of at most ${v.max_replicas} dispatched, ${mode})`;
    }
    default:
      return assertNever(v.state);
  }
}

/**
 * Credit in device-weighted compute seconds, as `0.0 s`, `42.5 s`, `3 min 5 s`, `2 h 7 min`
 * (one decimal below a minute so that the first checks' fractions show).
 */
export function formatCredit(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}
