// The lease table's indexes: by id and by worker, through leases ending and the sweep.
import { expect, test } from 'vitest';
import { type Lease, LeaseTable } from '../src/engine/lease-table.ts';

function lease(leaseId: string, workerId: string, expiresAtMs = 1000): Lease {
  return {
    kind: 'task',
    leaseId,
    taskUid: 1,
    taskId: 't',
    tenant: 'a',
    workerId,
    attempt: 1,
    gpu: false,
    expiresAtMs,
    startedAtMs: 0,
    runUntilMs: 5000,
    cancelling: false,
    token: undefined,
  };
}

test("a worker's leases are listed until they end; its emptied set is reused until the sweep drops it", () => {
  const table = new LeaseTable();
  table.add(lease('l1', 'w1'));
  table.add(lease('l2', 'w1'));
  table.add(lease('l3', 'w2', 10));
  expect(table.forWorker('w1').map((l) => l.leaseId)).toEqual(['l1', 'l2']);
  expect(table.delete('l1')?.leaseId).toBe('l1');
  expect(table.delete('l1')).toBeUndefined();
  expect(table.delete('l2')?.leaseId).toBe('l2');
  expect(table.forWorker('w1')).toEqual([]);
  table.add(lease('l4', 'w1'));
  expect(table.forWorker('w1').map((l) => l.leaseId)).toEqual(['l4']);
  table.delete('l4');
  // The sweep: l3 is due; w1's emptied set goes, w2's (still holding l3) stays.
  expect(table.expired(100).map((l) => l.leaseId)).toEqual(['l3']);
  expect(table.forWorker('w1')).toEqual([]);
  expect(table.forWorker('w2').map((l) => l.leaseId)).toEqual(['l3']);
  table.add(lease('l5', 'w1'));
  expect(table.forWorker('w1').map((l) => l.leaseId)).toEqual(['l5']);
  expect(table.size).toBe(2);
});
