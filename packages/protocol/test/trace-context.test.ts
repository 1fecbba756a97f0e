import { describe, expect, test } from 'vitest';
import {
  type ComputeEnvelope,
  campaignTraceId,
  formatTraceparent,
  isTraceId,
  newSpanId,
  newTraceId,
  ProtocolError,
  parseTraceparent,
  submitSpanId,
  validateEnvelope,
} from '../src/index.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('traceparent (W3C Trace Context)', () => {
  test("the spec's example parses into its fields", () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      flags: '01',
    });
  });

  test('a later version may carry more fields after the flags', () => {
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-00-extra`)?.traceId).toBe(TRACE);
  });

  test.each([
    ['absent', undefined],
    ['empty', ''],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with a trailing field', `00-${TRACE}-${PARENT}-01-x`],
    ['uppercase hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['a long parent id', `00-${TRACE}-${PARENT}0-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a one-digit flag', `00-${TRACE}-${PARENT}-1`],
    ['no dashes', `00${TRACE}${PARENT}01`],
  ])('%s is ignored (undefined)', (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  test('formatTraceparent writes version 00, sampled by default', () => {
    expect(formatTraceparent(TRACE, PARENT)).toBe(`00-${TRACE}-${PARENT}-01`);
    expect(formatTraceparent(TRACE, PARENT, '00')).toBe(`00-${TRACE}-${PARENT}-00`);
  });
});

describe('minted ids', () => {
  test('trace ids are 32 hex digits, span ids 16, and 10,000 of each are distinct', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const t = newTraceId();
      const s = newSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      traces.add(t);
      spans.add(s);
    }
    expect(traces.size).toBe(10_000);
    expect(spans.size).toBe(10_000);
    expect(isTraceId(newTraceId())).toBe(true);
    expect(isTraceId('0'.repeat(32))).toBe(false);
    expect(isTraceId('order-17')).toBe(false);
  });

  test("a submission's span id is a function of trace and task id: 16 hex digits", () => {
    const a = submitSpanId(TRACE, 't-1');
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(submitSpanId(TRACE, 't-1')).toBe(a);
    expect(submitSpanId(TRACE, 't-2')).not.toBe(a);
    expect(submitSpanId(newTraceId(), 't-1')).not.toBe(a);
  });

  test('derived ids are the same in every version (known answers: every coordinator derives them)', () => {
    expect(submitSpanId(TRACE, 't-1')).toBe('154f0edea04187e9');
    expect(submitSpanId('', '')).toBe('0f0c6cddc7c3e024');
    expect(submitSpanId(TRACE, 'tâche-é')).toBe('a011b66ebe23f4af');
    expect(campaignTraceId('acme', 'c1')).toBe('273ca2fff61e49059d041593dbafafd6');
  });
});

test("a campaign's trace id is a function of tenant and campaign id: a W3C trace id", () => {
  const id = campaignTraceId('acme', 'wf-1');
  expect(isTraceId(id)).toBe(true);
  expect(campaignTraceId('acme', 'wf-1')).toBe(id);
  expect(campaignTraceId('other', 'wf-1')).not.toBe(id);
  expect(campaignTraceId('acme', 'wf-2')).not.toBe(id);
});

describe('correlation_id bounds', () => {
  const envelope = (correlation_id: string): ComputeEnvelope => ({
    task_id: 't-1',
    op: 'sum',
    module: { kind: 'builtin' },
    requirements: { min: {} },
    correlation_id,
  });

  test('a W3C trace id and a 128-character id of the task id alphabet pass', () => {
    expect(() => validateEnvelope(envelope(TRACE))).not.toThrow();
    expect(() => validateEnvelope(envelope(`order-${'7'.repeat(122)}`))).not.toThrow();
  });

  test.each([
    ['129 characters', 'c'.repeat(129)],
    ['a space', 'order 17'],
    ['a leading dash', '-order'],
  ])('%s is INVALID_FIELD correlation_id', (_what, id) => {
    let caught: unknown;
    try {
      validateEnvelope(envelope(id));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProtocolError);
    expect((caught as ProtocolError).code).toBe('INVALID_FIELD');
    expect((caught as ProtocolError).field).toBe('correlation_id');
  });
});
