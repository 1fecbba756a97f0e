// The open task made from a stored record: what it shares with the envelope it was given and
// what it keeps of its own.
import { type ComputeEnvelope, toJson } from '@flock/protocol';
import { describe, expect, test } from 'vitest';
import { toOpen } from '../src/engine/open-task.ts';
import type { TaskRecord } from '../src/store/store.ts';

function record(envelope: ComputeEnvelope, uid = 1): TaskRecord {
  return {
    uid,
    tenant: 'a',
    taskId: envelope.task_id ?? '',
    campaignId: undefined,
    op: 'sum',
    moduleKind: 'builtin',
    contentHash: 'h',
    envelope: Buffer.from(JSON.stringify(toJson('ComputeEnvelope', envelope))),
    priority: 0,
    deadlineAtMs: undefined,
    maxRetries: 0,
    createdAtMs: 1,
    state: 'queued',
    attempts: 0,
    failures: 0,
    notBeforeMs: 0,
    updatedAtMs: 1,
    currentLeaseId: undefined,
    progress: undefined,
    failureCode: undefined,
    failureMessage: undefined,
    result: undefined,
    executor: undefined,
    durationMs: undefined,
  };
}

const plain = (): ComputeEnvelope => ({ task_id: 't', op: 'sum', module: { kind: 'builtin' } });

describe('toOpen', () => {
  test("an envelope without `security` is kept as it is; one with it is copied without it, the caller's left whole", () => {
    const envelope = plain();
    expect(toOpen(record(envelope), envelope).envelope).toBe(envelope);
    const signed = { ...plain(), security: { task_token: 'sig' } };
    const open = toOpen(record(signed), signed);
    expect(open.envelope).toEqual(plain());
    expect(signed.security).toEqual({ task_token: 'sig' });
    expect(toOpen(record(signed)).envelope).toEqual(plain());
  });

  test('a task without verification shares an empty set of replica leases and refusals, which refuses additions', () => {
    const a = toOpen(record(plain(), 1), plain());
    const b = toOpen(record(plain(), 2), plain());
    expect(a.replicas).toBeUndefined();
    expect(a.replicaLeases.size).toBe(0);
    expect(a.replicaLeases.has('l-1')).toBe(false);
    expect(() => a.refusedWorkers.add('w-1')).toThrow(/without verification/);
    expect(() => a.replicaLeases.add('l-1')).toThrow(/without verification/);
    expect(b.refusedWorkers.size).toBe(0);
  });

  test('a verified task has sets of its own', () => {
    const envelope = { ...plain(), verification: { replicas: 2 } };
    const a = toOpen(record(envelope, 1), envelope);
    const b = toOpen(record(envelope, 2), { ...envelope });
    a.replicaLeases.add('l-1');
    a.refusedWorkers.add('w-1');
    expect([...a.replicaLeases]).toEqual(['l-1']);
    expect([...a.refusedWorkers]).toEqual(['w-1']);
    expect(b.replicaLeases.size + b.refusedWorkers.size).toBe(0);
    expect(a.replicas).toEqual(new Map());
  });
});
