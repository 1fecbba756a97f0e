// The sentences the dashboard shows for the SDK's and the coordinator's errors.
import { FlockError } from '@flock/client';
import { describe, expect, it } from 'vitest';
import { describeError } from '../src/error-text.ts';

describe('describeError', () => {
  it('names what a refused field belonged to: an envelope by default, a key, a workflow', () => {
    const refused = new FlockError('INVALID_ARGUMENT', '"bogus:x" is not a scope', {
      status: 400,
      field: 'scopes[1]',
    });
    expect(describeError(refused)).toBe(
      'Invalid envelope: field "scopes[1]": "bogus:x" is not a scope (INVALID_ARGUMENT)',
    );
    expect(describeError(refused, 'key')).toBe(
      'Invalid key: field "scopes[1]": "bogus:x" is not a scope (INVALID_ARGUMENT)',
    );
  });

  it('says when to try again after a 429 or 503 that carried Retry-After', () => {
    const limited = new FlockError('RATE_LIMITED', 'more than 1 submissions a second', {
      status: 429,
      retryAfterMs: 1000,
    });
    expect(describeError(limited)).toBe('more than 1 submissions a second (RATE_LIMITED); try again in 1 s');
    const full = new FlockError('QUEUE_FULL', 'the store is full', { status: 503, retryAfterMs: 9500 });
    expect(describeError(full)).toBe('the store is full (QUEUE_FULL); try again in 10 s');
    const quota = new FlockError('QUOTA_EXCEEDED', '10 bytes stored', { status: 429 });
    expect(describeError(quota)).toBe('10 bytes stored (QUOTA_EXCEEDED)');
  });

  it('turns anything else into its message, never [object Object]', () => {
    expect(describeError(new Error('Not JSON: x'))).toBe('Not JSON: x');
    expect(describeError('plain')).toBe('plain');
  });
});
