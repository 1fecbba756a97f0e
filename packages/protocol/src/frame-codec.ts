import { PAYLOAD_ROUTES, type PayloadKind, payloadKind } from './events.ts';
import { Frame as CapnpFrame } from './generated/bus.ts';
import { ENUMS, type Frame, type Frame_Payload, type Metadata, type Trace } from './generated/model.ts';
import { type DecodeLimits, resolveLimits } from './limits.ts';
import { decodeChecked } from './message-codec.ts';
import { asProtocolError, checkFraming, openMessage } from './message-framing.ts';
import { ProtocolError } from './protocol-error.ts';
import { readRoutingFields } from './routing-reader.ts';
import { visibleFields } from './struct-descriptors.ts';
import { writeMessage } from './wire-writer.ts';

/**
 * Encodes one bus frame (bus-spec.md §5.2) as a framed Cap'n Proto message.
 * Throws ProtocolError FRAME_TOO_LARGE when it would exceed `limits.maxFrameBytes`.
 */
export function encodeFrame(frame: Frame, limits?: Partial<DecodeLimits>): Uint8Array {
  const resolved = resolveLimits(limits);
  return checkedSize(writeMessage('Frame', frame, resolved), resolved);
}

/**
 * Encodes one frame as `encodeFrame` does, into a view of the encoder's reused buffer rather than
 * a copy: the bytes are valid only until the next message is encoded. For a sender that copies
 * each frame into the message it is building (frames batched end to end).
 */
export function encodeFrameView(frame: Frame, limits?: Partial<DecodeLimits>): Uint8Array {
  const resolved = resolveLimits(limits);
  return checkedSize(writeMessage('Frame', frame, resolved, true), resolved);
}

function checkedSize(bytes: Uint8Array, resolved: DecodeLimits): Uint8Array {
  if (bytes.length > resolved.maxFrameBytes) {
    throw new ProtocolError(
      'FRAME_TOO_LARGE',
      `frame of ${bytes.length} bytes exceeds ${resolved.maxFrameBytes}`,
    );
  }
  return bytes;
}

/** Decodes one frame received from the network. Throws only ProtocolError, whatever the bytes. */
export function decodeFrame(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Frame {
  const resolved = resolveLimits(limits);
  let frame: Frame;
  try {
    frame = decodeChecked('Frame', bytes, resolved) as Frame;
  } catch (error) {
    throw asProtocolError(error);
  }
  if (!frame.payload) throw new ProtocolError('PAYLOAD_MISSING', 'frame has no payload', 'payload');
  return frame;
}

/**
 * A frame's payload alone: the frame is checked as `decodeFrame` checks it (the same errors for
 * the same bytes) but its header (id, topic, ts, schema, trace, metadata) is not built, which is
 * most of its texts — for a receiver that acts on the payload only, as the coordinator does with
 * its volunteers' frames. Throws only ProtocolError.
 */
export function decodeFramePayload(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Frame_Payload {
  const resolved = resolveLimits(limits);
  let frame: Frame;
  try {
    frame = decodeChecked('Frame', bytes, resolved, 'payload') as Frame;
  } catch (error) {
    throw asProtocolError(error);
  }
  if (!frame.payload) throw new ProtocolError('PAYLOAD_MISSING', 'frame has no payload', 'payload');
  return frame.payload;
}

/** What a router needs from a frame, read without decoding the payload. */
export interface Routing {
  type: (typeof ENUMS.FrameType)[number];
  topic: string;
  payload: PayloadKind;
  task_id: string;
}

const payloadMembers = visibleFields('Frame_Payload');
/** Payloads whose struct has a task_id field (read for routing). */
const HAS_TASK_ID = new Set<string>(
  payloadMembers
    .filter((f) => f.type.k === 'struct' && visibleFields(f.type.s).some((g) => g.json === 'task_id'))
    .map((f) => f.json),
);

/**
 * Reads the routing fields (type, topic, payload kind, task_id) lazily: Cap'n Proto lets us touch
 * only these pointers, so this costs a fraction of a full decode. Throws only ProtocolError.
 */
export function readRouting(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Routing {
  const resolved = resolveLimits(limits);
  try {
    checkFraming(bytes, resolved);
    // Plain single-segment frames (all that Flock writes): a few reads, no capnp-es objects.
    return readRoutingFields(bytes) ?? readRoutingWithCapnpEs(bytes, resolved);
  } catch (error) {
    throw asProtocolError(error);
  }
}

/** readRouting through capnp-es: every frame the direct reader leaves out. Exported for tests. */
export function readRoutingWithCapnpEs(bytes: Uint8Array, limits: DecodeLimits): Routing {
  const message = openMessage(bytes, limits);
  const root = message.getRoot(CapnpFrame);
  const type = ENUMS.FrameType[root.type];
  if (type === undefined) throw new ProtocolError('UNKNOWN_ENUM', `unknown frame type ${root.type}`, 'type');
  const which = root.payload.which();
  const member = payloadMembers.find((f) => f.union === which);
  if (!member) throw new ProtocolError('UNKNOWN_ENUM', `unknown payload ${which}`, 'payload');
  const kind = member.json as PayloadKind;
  let taskId = '';
  if (HAS_TASK_ID.has(kind)) {
    const body = (root.payload as unknown as Record<string, { taskId: string }>)[member.name];
    taskId = body?.taskId ?? '';
  }
  return { type, topic: root.topic, payload: kind, task_id: taskId };
}

const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** A frame id's character codes, its hex digits written over for each id (see `uuid`). */
const UUID_CODES = Array.from('00000000-0000-4000-8000-000000000000', (c) => c.charCodeAt(0));
/** Where byte i of a UUID puts its two hex digits. */
const UUID_DIGITS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
/** Random bytes drawn 4 KiB at a time: one getRandomValues call per 256 frame ids. */
const RANDOM = new Uint8Array(4096);
let randomAt = RANDOM.length;

/**
 * A UUID v4 from getRandomValues (randomUUID is missing on insecure origins). Frame ids need to be
 * unique, not secret, so the random bytes come from a pool refilled 4 KiB at a time.
 */
export function uuid(): string {
  if (randomAt + 16 > RANDOM.length) {
    crypto.getRandomValues(RANDOM);
    randomAt = 0;
  }
  const b = RANDOM;
  const o = randomAt;
  randomAt += 16;
  b[o + 6] = (b[o + 6]! & 0x0f) | 0x40;
  b[o + 8] = (b[o + 8]! & 0x3f) | 0x80;
  for (let i = 0; i < 16; i++) {
    const byte = b[o + i]!;
    const at = UUID_DIGITS[i]!;
    UUID_CODES[at] = HEX_CODES[byte >> 4]!;
    UUID_CODES[at + 1] = HEX_CODES[byte & 15]!;
  }
  // One string made from the codes: appending 20 pieces made as many strings (~0.6 KB a frame).
  return String.fromCharCode.apply(null, UUID_CODES);
}

export interface FrameOptions {
  id?: string;
  ts?: string;
  trace?: Trace;
  metadata?: Metadata;
}

let isoAtMs = -1;
let isoText = '';
/** The time now in ISO 8601, formatted once per millisecond (the frames of a turn share it). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoAtMs) {
    isoAtMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

const NO_OPTIONS: FrameOptions = Object.freeze({});
/** Each payload kind's `schema`, made once rather than per frame. */
const SCHEMAS = Object.fromEntries(
  Object.entries(PAYLOAD_ROUTES).map(([kind, route]) => [kind, `flock.v1.${route.struct}`]),
) as Record<keyof typeof PAYLOAD_ROUTES, string>;

/** Builds a frame around a payload: id, type, topic (the event name), ts and schema filled in. */
export function makeFrame(payload: Frame_Payload, options: FrameOptions = NO_OPTIONS): Frame {
  const kind = payloadKind(payload);
  if (kind === 'none') throw new ProtocolError('PAYLOAD_MISSING', 'a frame needs a payload', 'payload');
  const route = PAYLOAD_ROUTES[kind];
  const frame: Frame = {
    id: options.id ?? uuid(),
    type: route.type,
    topic: route.topic,
    ts: options.ts ?? isoNow(),
    schema: SCHEMAS[kind],
    payload,
  };
  if (options.trace) frame.trace = options.trace;
  if (options.metadata) frame.metadata = options.metadata;
  return frame;
}
