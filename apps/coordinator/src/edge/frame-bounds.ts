// What a volunteer's frame may carry is bounded by what that worker can legitimately hold: lease
// lists by its slots, capabilities by the protocol's bounds. The entries a frame carries are the
// work it makes the coordinator do, charged to the connection's budget.
import { capabilityEntries, checkCapability, type Frame_Payload, ProtocolError } from '@flock/protocol';
import { Violation } from './worker-violation.ts';

/**
 * Checks the lists a frame carries against `maxSlots` (lease lists may hold twice that: stale
 * ones) and the capability bounds; returns the entries it makes the coordinator process.
 */
export function frameWork(payload: Frame_Payload, maxSlots: number): number {
  // Results first: the frame volunteers send most needs no closure made for it.
  if ('result' in payload) return payload.result.outputs?.length ?? 0;
  const leaseList = (n: number, what: string): number => {
    if (n > maxSlots * 2) {
      throw Violation.of('LIST_TOO_LONG', `${what} lists ${n} leases; a worker holds at most ${maxSlots}`);
    }
    return n;
  };
  if ('heartbeat' in payload) return leaseList(payload.heartbeat.lease_ids?.length ?? 0, 'heartbeat');
  if ('capability' in payload) return capabilityWork(payload.capability);
  if ('hello' in payload) {
    const hello = payload.hello;
    return (
      leaseList(hello.in_flight?.length ?? 0, 'hello.in_flight') +
      leaseList(hello.undelivered?.length ?? 0, 'hello.undelivered') +
      capabilityWork(hello.capability)
    );
  }
  return 0;
}

function capabilityWork(cap: Parameters<typeof checkCapability>[0] | undefined): number {
  if (!cap) return 0;
  try {
    checkCapability(cap);
  } catch (err) {
    if (err instanceof ProtocolError)
      throw Violation.protocol(err, `capability ${err.field}: ${err.message}`, true);
    throw err;
  }
  return capabilityEntries(cap);
}
