// Ring records as Cap'n Proto BridgeRecords (packages/protocol/schema/bus.capnp): a small header
// naming arena slices; the bulk bytes stay in the arena.
import type { ArenaSlice, BridgeRecord } from '@flock/protocol';
import type { ArenaHandle } from './arena.ts';
import { BridgeError } from './bridge-error.ts';
import { decodeBridgeRecord, encodeBridgeRecordScratch } from './bridge-record-codec.ts';
import type { Ring } from './ring.ts';

/** Encodes `record` and pushes it; false when the ring is full (nothing is pushed). */
export function pushRecord(ring: Ring, record: BridgeRecord): boolean {
  return ring.push(encodeBridgeRecordScratch(record));
}

let scratch = new Uint8Array(1024);

/** Pops and decodes the oldest record, or undefined when empty. Bad bytes throw the protocol's ProtocolError. */
export function popRecord(ring: Ring): BridgeRecord | undefined {
  const len = ring.peekLength();
  if (len < 0) return undefined;
  if (scratch.length < len) scratch = new Uint8Array(Math.max(len, scratch.length * 2));
  // The decoded record holds copies (numbers, strings), never a view of the scratch bytes.
  return decodeBridgeRecord(scratch.subarray(0, ring.popInto(scratch)));
}

/** The ArenaSlice that names `handle` in a record. */
export function sliceOf(name: string, handle: ArenaHandle): ArenaSlice {
  return { name, offset: handle.offset, length: handle.length, generation: handle.generation };
}

/** The arena handle a record's slice names; the arena refuses it with STALE_HANDLE if it is not live. */
export function handleOf(slice: ArenaSlice): ArenaHandle {
  const { offset = 0, length = 0, generation = 0 } = slice;
  if (generation === 0) {
    throw new BridgeError(
      'STALE_HANDLE',
      `slice ${slice.name ?? '?'} has no generation: it names no allocation`,
    );
  }
  return { offset, length, generation };
}
