// The submit forms' "Verify results" control as a policy: what goes into the envelope's
// `verification` (apps/coordinator/TRUST.md, "Policy"). Pure, so that it is tested in Node.
import type { VerificationPolicy } from '@flock/protocol';

/** What the control holds, as typed (numbers are the inputs' text). */
export interface VerifyChoice {
  enabled: boolean;
  /** `fixed`: `replicas` copies, `quorum` of them must agree; `adaptive`: the coordinator decides. */
  mode: 'fixed' | 'adaptive';
  replicas: string;
  quorum: string;
  comparator: 'exact' | 'tolerance';
}

/**
 * The envelope's `verification`, or undefined when the control is off. Adaptive is `{}` (replicas
 * unset: one copy when a trusted volunteer runs it, else a quorum of 2). The coordinator judges the
 * policy itself (quorum above replicas, more than 16 copies: 400 with the field); this only refuses
 * what is not a whole number.
 */
export function verificationPolicy(choice: VerifyChoice): VerificationPolicy | undefined {
  if (!choice.enabled) return undefined;
  const policy: VerificationPolicy = {};
  if (choice.mode === 'fixed') {
    policy.replicas = wholeNumber(choice.replicas, 'replicas');
    policy.quorum = wholeNumber(choice.quorum, 'quorum');
  }
  if (choice.comparator === 'tolerance') policy.comparator = 'tolerance';
  return policy;
}

function wholeNumber(text: string, name: string): number {
  const trimmed = text.trim();
  const n = Number(trimmed);
  if (trimmed === '' || !Number.isInteger(n) || n < 1) {
    throw new Error(`Verify results: ${name} must be a whole number of at least 1, got "${text}"`);
  }
  return n;
}
