// The submit forms' "Verify results" control → the envelope's `verification` (the coordinator
// judges the policy itself: the e2e submits one; packages/client/test/verification.test.ts runs
// fixed and adaptive policies through a real coordinator).
import { describe, expect, it } from 'vitest';
import { type VerifyChoice, verificationPolicy } from '../src/verification-policy.ts';

const base: VerifyChoice = { enabled: true, mode: 'fixed', replicas: '2', quorum: '2', comparator: 'exact' };

describe('verificationPolicy', () => {
  it('is undefined when the control is off, whatever it holds', () => {
    expect(verificationPolicy({ ...base, enabled: false, replicas: 'x' })).toBeUndefined();
  });

  it('fixed: replicas and quorum; adaptive: {} (replicas unset); tolerance only when chosen', () => {
    expect(verificationPolicy(base)).toEqual({ replicas: 2, quorum: 2 });
    expect(verificationPolicy({ ...base, replicas: ' 3 ', quorum: '2' })).toEqual({ replicas: 3, quorum: 2 });
    expect(verificationPolicy({ ...base, replicas: '1', quorum: '1' })).toEqual({ replicas: 1, quorum: 1 });
    expect(verificationPolicy({ ...base, mode: 'adaptive', replicas: '' })).toEqual({});
    expect(verificationPolicy({ ...base, comparator: 'tolerance' })).toEqual({
      replicas: 2,
      quorum: 2,
      comparator: 'tolerance',
    });
  });

  it('refuses what is not a whole number of at least 1, naming the control', () => {
    expect(() => verificationPolicy({ ...base, replicas: '' })).toThrow(
      'Verify results: replicas must be a whole number of at least 1, got ""',
    );
    expect(() => verificationPolicy({ ...base, quorum: '1.5' })).toThrow(
      'Verify results: quorum must be a whole number of at least 1, got "1.5"',
    );
    expect(() => verificationPolicy({ ...base, replicas: '0' })).toThrow(/replicas must be a whole number/);
  });
});
