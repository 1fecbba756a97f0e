// The open task made from a stored record: what it shares with the envelope it was given and
// what it keeps of its own.
import { type ComputeEnvelope, toJson } from '@flock/protocol';
import { describe, expect, test } from 'vitest';
import { toOpen } from '../src/engine/open-task.ts';
import type { TaskRecord } from '../src/store/store.ts';
import { newRecord } from '../src/store/store-rows.ts';
import { newTask } from './store-contract/store-test.ts';

/** The record a store returns for `envelope` just inserted as task `uid`. */
function record(envelope: ComputeEnvelope, uid = 1): TaskRecord {
  const bytes = Buffer.from(JSON.stringify(toJson('ComputeEnvelope', envelope)));
  return newRecord(
    uid,
    newTask(envelope.task_id ?? '', { envelope: bytes, contentHash: 'h', createdAtMs: 1 }),
  );
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
