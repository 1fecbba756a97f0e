import type { Frame_Payload, FrameType, StructTypes } from './generated/model.ts';

/** The seed's event names (compute-events.md "Event Types"). */
export const EVENTS = {
  requested: 'compute:dispatch:v1:requested',
  accepted: 'compute:dispatch:v1:accepted',
  progress: 'compute:dispatch:v1:progress',
  success: 'compute:dispatch:v1:success',
  failed: 'compute:dispatch:v1:failed',
  cancelled: 'compute:dispatch:v1:cancelled',
  capabilities: 'compute:capabilities:v1:update',
  moduleRegister: 'compute:module:v1:register',
  moduleValidate: 'compute:module:v1:validate',
} as const;

export type EventName = (typeof EVENTS)[keyof typeof EVENTS];

/** The payload kinds a Frame can carry (`{ progress: ... }` has kind `progress`). */
export type PayloadKind = Frame_Payload extends infer U ? (U extends unknown ? keyof U : never) : never;

/** Frame payload kinds that are worker-protocol control messages rather than compute events. */
export const CONTROL_KINDS = [
  'hello',
  'welcome',
  'heartbeat',
  'heartbeat_ack',
  'cancel',
  'cancel_ack',
  'result_ack',
  'error',
  'stream_start',
  'stream_chunk',
  'stream_end',
  'none',
] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

/** Topic of a control frame: `flock:worker:v1:<kind>`. */
export const controlTopic = (kind: ControlKind): string => `flock:worker:v1:${kind}`;

interface PayloadRoute {
  topic: string;
  type: FrameType;
  struct: keyof StructTypes;
}

/**
 * The seed's table "Payload Types": which event each payload travels under, plus the bus frame
 * type (bus-spec.md §5.2) and the struct, used for `schema` (`flock.v1.<Struct>`).
 */
export const PAYLOAD_ROUTES: Readonly<Record<Exclude<PayloadKind, 'none'>, PayloadRoute>> = {
  envelope: { topic: EVENTS.requested, type: 'job', struct: 'ComputeEnvelope' },
  claim: { topic: EVENTS.accepted, type: 'control', struct: 'ComputeClaim' },
  assignment: { topic: EVENTS.accepted, type: 'job', struct: 'ComputeAssignment' },
  progress: { topic: EVENTS.progress, type: 'event', struct: 'ComputeProgress' },
  result: { topic: EVENTS.success, type: 'job_result', struct: 'ComputeResult' },
  failure: { topic: EVENTS.failed, type: 'job_result', struct: 'ComputeFailure' },
  cancelled: { topic: EVENTS.cancelled, type: 'event', struct: 'ComputeCancelled' },
  capability: { topic: EVENTS.capabilities, type: 'control', struct: 'Capability' },
  hello: { topic: controlTopic('hello'), type: 'control', struct: 'Hello' },
  welcome: { topic: controlTopic('welcome'), type: 'control', struct: 'Welcome' },
  heartbeat: { topic: controlTopic('heartbeat'), type: 'control', struct: 'Heartbeat' },
  heartbeat_ack: { topic: controlTopic('heartbeat_ack'), type: 'control', struct: 'HeartbeatAck' },
  cancel: { topic: controlTopic('cancel'), type: 'control', struct: 'Cancel' },
  cancel_ack: { topic: controlTopic('cancel_ack'), type: 'control', struct: 'CancelAck' },
  result_ack: { topic: controlTopic('result_ack'), type: 'control', struct: 'ResultAck' },
  error: { topic: controlTopic('error'), type: 'control', struct: 'ErrorMessage' },
  stream_start: { topic: controlTopic('stream_start'), type: 'stream_start', struct: 'StreamStart' },
  stream_chunk: { topic: controlTopic('stream_chunk'), type: 'stream_chunk', struct: 'StreamChunk' },
  stream_end: { topic: controlTopic('stream_end'), type: 'stream_end', struct: 'StreamEnd' },
};

/** The event name a payload kind is published under. */
export function eventForPayload(kind: Exclude<PayloadKind, 'none'>): string {
  return PAYLOAD_ROUTES[kind].topic;
}

/** The payload kind of a frame payload object (`{ result: ... }` → `result`; `{}` → `none`). */
export function payloadKind(payload: Frame_Payload): PayloadKind {
  // Its first own key, read without making the array of all of them (once per frame sent).
  for (const key in payload) if (Object.hasOwn(payload, key)) return key as PayloadKind;
  return 'none';
}
