import type { Comparator, VerificationPolicy } from '@flock/protocol';
import { TrustError } from './trust-error.ts';

/**
 * A task's verification policy with every default filled in and every bound checked.
 * - `fixed`: `replicas` copies run at once; a result is canonical once `quorum` of them agree.
 * - `adaptive` (`replicas` 0 or unset): one copy runs; a worker that has earned trust for this
 *   module on this adapter class may be believed alone, otherwise `quorum` copies must agree.
 */
export interface ResolvedPolicy {
  readonly mode: 'fixed' | 'adaptive';
  /** Copies dispatched at the start (adaptive: 1). */
  readonly replicas: number;
  /** Agreeing results, from distinct workers, needed for a canonical result. */
  readonly quorum: number;
  readonly comparator: Comparator;
  /** Tolerance comparator: |a − b| ≤ absTolerance + relTolerance · max(|a|, |b|), per f32 element. */
  readonly absTolerance: number;
  readonly relTolerance: number;
  /** Replicas only on the adapter class of the first one. */
  readonly homogeneous: boolean;
  /** Copies dispatched in all, at most, before the task fails VERIFICATION_FAILED. */
  readonly maxReplicas: number;
}

/** Coordinator-wide defaults for what a task's policy leaves unset. */
export interface PolicyDefaults {
  /** Quorum of adaptive tasks (default 2). */
  readonly quorum: number;
  /** Cap on copies when the policy sets none (default 5; raised to `replicas` when lower). */
  readonly maxReplicas: number;
  /** Relative tolerance of the tolerance comparator when the policy sets neither bound (default 1e-5). */
  readonly relTolerance: number;
}

export const DEFAULT_POLICY_DEFAULTS: PolicyDefaults = { quorum: 2, maxReplicas: 5, relTolerance: 1e-5 };

/** More copies than this of one task are refused as a policy error: volunteers' time is not free. */
export const REPLICA_CEILING = 16;

function checkCount(value: number, field: string, min: number): void {
  if (!Number.isInteger(value) || value < min || value > REPLICA_CEILING) {
    throw new TrustError(
      'INVALID_POLICY',
      `verification.${field} must be an integer in ${min}..${REPLICA_CEILING}, got ${value}`,
      `verification.${field}`,
    );
  }
}

function checkTolerance(value: number, field: string): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new TrustError(
      'INVALID_POLICY',
      `verification.${field} must be a finite number ≥ 0, got ${value}`,
      `verification.${field}`,
    );
  }
}

/**
 * Fills in defaults and checks bounds; throws TrustError INVALID_POLICY naming the field.
 * Fixed mode's quorum defaults to a majority of `replicas` (1 of 1, 2 of 2, 2 of 3).
 */
export function resolvePolicy(
  policy: VerificationPolicy | undefined,
  defaults: PolicyDefaults = DEFAULT_POLICY_DEFAULTS,
): ResolvedPolicy {
  const v = policy ?? {};
  const adaptive = v.replicas === undefined || v.replicas === 0;
  const replicas = adaptive ? 1 : v.replicas!;
  checkCount(replicas, 'replicas', 1);
  const quorum = v.quorum || (adaptive ? defaults.quorum : Math.floor(replicas / 2) + 1);
  checkCount(quorum, 'quorum', 1);
  if (!adaptive && quorum > replicas) {
    throw new TrustError(
      'INVALID_POLICY',
      `verification.quorum ${quorum} exceeds replicas ${replicas}`,
      'verification.quorum',
    );
  }
  const maxReplicas = v.max_replicas || Math.max(defaults.maxReplicas, replicas, quorum);
  checkCount(maxReplicas, 'max_replicas', 1);
  if (maxReplicas < replicas || maxReplicas < quorum) {
    throw new TrustError(
      'INVALID_POLICY',
      `verification.max_replicas ${maxReplicas} is below replicas ${replicas} or quorum ${quorum}`,
      'verification.max_replicas',
    );
  }
  const comparator = v.comparator ?? 'exact';
  let absTolerance = v.abs_tolerance ?? 0;
  let relTolerance = v.rel_tolerance ?? 0;
  checkTolerance(absTolerance, 'abs_tolerance');
  checkTolerance(relTolerance, 'rel_tolerance');
  if (comparator === 'exact' && (absTolerance > 0 || relTolerance > 0)) {
    throw new TrustError(
      'INVALID_POLICY',
      'tolerances need comparator "tolerance"; the exact comparator compares hashes',
      'verification.comparator',
    );
  }
  if (comparator === 'tolerance' && v.abs_tolerance === undefined && v.rel_tolerance === undefined) {
    relTolerance = defaults.relTolerance;
    absTolerance = 0;
  }
  return {
    mode: adaptive ? 'adaptive' : 'fixed',
    replicas,
    quorum,
    comparator,
    absTolerance,
    relTolerance,
    homogeneous: v.homogeneous ?? false,
    maxReplicas,
  };
}
