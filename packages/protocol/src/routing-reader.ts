// Reads a frame's routing fields (type, topic, payload kind, task_id) straight from the bytes of
// a single-segment frame. Going through capnp-es costs a Message, about fifteen Pointer objects
// and two Proxy-wrapped Text reads per frame, more than JSON.parse of the whole JSON view
// (bench/codec.bench.ts); these few bounds-checked reads cost a fraction of a microsecond.
// Anything unusual (several segments, far pointers, unexpected pointer kinds, out-of-range
// values, structs smaller than the current schema's) returns undefined, and the caller falls back
// to capnp-es, which decides what to throw. A property test checks that whenever this reader
// answers, capnp-es gives the same fields (property.test.ts, also on mutated frames).
//
// The layout is not written here: it is measured once, at load, from frames the codec encodes
// (which slot holds topic, where the union discriminant lies, which slot each payload's task_id
// uses), so it follows the schema.
import type { PayloadKind } from './events.ts';
import { ENUMS, type FrameType } from './generated/model.ts';
import { encodeMessage } from './message-codec.ts';
import { type StructName, visibleFields } from './struct-descriptors.ts';

/** Routing fields, as `readRouting` returns them. */
export interface RoutingFields {
  type: FrameType;
  topic: string;
  payload: PayloadKind;
  task_id: string;
}

interface StructRef {
  /** Byte offset of the data section. */
  data: number;
  dataBytes: number;
  /** Byte offset of the pointer section. */
  pointers: number;
  pointerCount: number;
}

/** Section sizes of a struct as the current schema lays it out. */
interface Size {
  dataBytes: number;
  pointerCount: number;
}

interface Member {
  kind: PayloadKind;
  /** Pointer slot of task_id in the payload struct, or -1 when it has none. */
  taskIdSlot: number;
  size: Size;
}

interface Layout {
  typeOffset: number;
  whichOffset: number;
  frameSize: Size;
  topicSlot: number;
  payloadSlot: number;
  members: ReadonlyMap<number, Member>;
}

const SEGMENT_START = 8; // single segment: segment count word + one size word
// Same decoding as capnp-es's Text (default options), so routing and full decoding agree.
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The root struct of a single-segment message, or undefined when it is anything else. */
function rootOf(view: DataView): StructRef | undefined {
  return structAt(view, SEGMENT_START);
}

/** The struct a pointer at `at` points to; null → an empty struct; undefined → not simple. */
function structAt(view: DataView, at: number): StructRef | undefined {
  const lo = view.getInt32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return { data: 0, dataBytes: 0, pointers: 0, pointerCount: 0 };
  if ((lo & 3) !== 0) return undefined; // a list, far or capability pointer
  const data = at + 8 + (lo >> 2) * 8;
  const dataBytes = (hi & 0xffff) * 8;
  const pointerCount = hi >>> 16;
  if (data < SEGMENT_START || data + dataBytes + pointerCount * 8 > view.byteLength) return undefined;
  return { data, dataBytes, pointers: data + dataBytes, pointerCount };
}

/** A UInt16 of a data section; fields beyond the section read as their default, 0. */
function uint16(view: DataView, s: StructRef, offset: number): number {
  return offset + 2 <= s.dataBytes ? view.getUint16(s.data + offset, true) : 0;
}

/** A Text pointer's string; '' when null; undefined when it is not a plain byte list in bounds. */
function textAt(view: DataView, bytes: Uint8Array, s: StructRef, slot: number): string | undefined {
  if (slot >= s.pointerCount) return '';
  const at = s.pointers + slot * 8;
  const lo = view.getInt32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (lo === 0 && hi === 0) return '';
  if ((lo & 3) !== 1 || (hi & 7) !== 2) return undefined; // not a list of bytes
  const start = at + 8 + (lo >> 2) * 8;
  const length = hi >>> 3; // includes the NUL terminator
  if (length < 1 || start < SEGMENT_START || start + length > view.byteLength) return undefined;
  return textDecoder.decode(bytes.subarray(start, start + length - 1));
}

/** The pointer slots of a struct's encoding that are not null. */
function setSlots(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = rootOf(view)!;
  const slots: number[] = [];
  for (let i = 0; i < root.pointerCount; i++) {
    const at = root.pointers + i * 8;
    if (view.getUint32(at, true) !== 0 || view.getUint32(at + 4, true) !== 0) slots.push(i);
  }
  return slots;
}

/** Byte offsets of the UInt16s equal to `value` in a struct encoding's data section. */
function uint16Offsets(bytes: Uint8Array, value: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = rootOf(view)!;
  const offsets: number[] = [];
  for (let o = 0; o + 2 <= root.dataBytes; o += 2) if (uint16(view, root, o) === value) offsets.push(o);
  return offsets;
}

function only(values: number[], what: string): number {
  if (values.length !== 1) throw new Error(`routing layout: cannot locate ${what}`);
  return values[0]!;
}

/** Measures where the routing fields lie, from frames encoded with one field set at a time. */
function measureLayout(): Layout {
  const control = ENUMS.FrameType.indexOf('control');
  const typeOffset = only(uint16Offsets(encodeMessage('Frame', { type: 'control' }), control), 'Frame.type');
  const topicSlot = only(setSlots(encodeMessage('Frame', { topic: 'x' })), 'Frame.topic');
  const members = new Map<number, Member>();
  let whichOffset = -1;
  let payloadSlot = -1;
  for (const f of visibleFields('Frame_Payload')) {
    if (f.union === undefined) continue;
    const kind = f.json as PayloadKind;
    if (f.type.k !== 'struct') {
      members.set(f.union, { kind, taskIdSlot: -1, size: { dataBytes: 0, pointerCount: 0 } });
      continue;
    }
    const struct: StructName = f.type.s;
    const frame = encodeMessage('Frame', { payload: { [kind]: {} } } as never);
    const which = only(uint16Offsets(frame, f.union), `the discriminant of ${kind}`);
    const slot = only(setSlots(frame), `the payload slot of ${kind}`);
    if ((whichOffset !== -1 && which !== whichOffset) || (payloadSlot !== -1 && slot !== payloadSlot)) {
      throw new Error('routing layout: payload members do not share one discriminant and slot');
    }
    whichOffset = which;
    payloadSlot = slot;
    const hasTaskId = visibleFields(struct).some((g) => g.json === 'task_id');
    const taskIdSlot = hasTaskId
      ? only(setSlots(encodeMessage(struct, { task_id: 'x' } as never)), 'task_id')
      : -1;
    members.set(f.union, { kind, taskIdSlot, size: sizeOf(struct) });
  }
  return { typeOffset, whichOffset, frameSize: sizeOf('Frame'), topicSlot, payloadSlot, members };
}

/** The section sizes the codec allocates for a struct (the schema's current layout). */
function sizeOf(struct: StructName): Size {
  const bytes = encodeMessage(struct, {} as never);
  const root = rootOf(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength))!;
  return { dataBytes: root.dataBytes, pointerCount: root.pointerCount };
}

function fullSize(s: StructRef, size: Size): boolean {
  return s.dataBytes >= size.dataBytes && s.pointerCount >= size.pointerCount;
}

const LAYOUT = measureLayout();

/**
 * The routing fields of a framed single-segment message whose framing was already checked, or
 * undefined when the bytes need the general decoder (which then also decides what to throw).
 */
export function readRoutingFields(bytes: Uint8Array): RoutingFields | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || view.getUint32(0, true) !== 0) return undefined;
  const rootPointerNull = view.getUint32(SEGMENT_START, true) === 0 && view.getUint32(12, true) === 0;
  const root = rootPointerNull ? undefined : rootOf(view);
  // Structs smaller than the schema's (an older schema's, or damaged ones) go to capnp-es, which
  // copies them to full size as it reads them and may refuse the frame on the way.
  if (!root || !fullSize(root, LAYOUT.frameSize)) return undefined;
  const type = ENUMS.FrameType[uint16(view, root, LAYOUT.typeOffset)];
  const member = LAYOUT.members.get(uint16(view, root, LAYOUT.whichOffset));
  if (type === undefined || member === undefined) return undefined;
  const topic = textAt(view, bytes, root, LAYOUT.topicSlot);
  if (topic === undefined) return undefined;
  let taskId: string | undefined = '';
  if (member.taskIdSlot >= 0 && LAYOUT.payloadSlot < root.pointerCount) {
    const payload = structAt(view, root.pointers + LAYOUT.payloadSlot * 8);
    if (!payload || (payload.pointerCount > 0 && !fullSize(payload, member.size))) return undefined;
    taskId = textAt(view, bytes, payload, member.taskIdSlot);
    if (taskId === undefined) return undefined;
  }
  return { type, topic, payload: member.kind, task_id: taskId };
}
