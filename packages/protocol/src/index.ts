export { decodeBase64, encodeBase64 } from './base64.ts';
export { canonicalEnvelope, canonicalJson } from './canonical.ts';
export { CAPABILITY_LIMITS, capabilityEntries, checkCapability } from './capability-limits.ts';
export {
  CONTROL_KINDS,
  type ControlKind,
  controlTopic,
  EVENTS,
  type EventName,
  eventForPayload,
  PAYLOAD_ROUTES,
  type PayloadKind,
  payloadKind,
} from './events.ts';
export { decodeFrames, joinFrames, MAX_BATCH_FRAMES, splitFrames } from './frame-batch.ts';
export {
  decodeFrame,
  decodeFramePayload,
  encodeFrame,
  encodeFrameView,
  type FrameOptions,
  makeFrame,
  type Routing,
  readRouting,
  uuid,
} from './frame-codec.ts';
export * from './generated/model.ts';
export { fromJson, parseEnvelopeJson, toJson } from './json-view.ts';
export {
  DEFAULT_FUEL,
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUT_MS,
  type DecodeLimits,
  FUEL_GLOBAL,
  resolveLimits,
} from './limits.ts';
export { decodeMessage, encodeMessage } from './message-codec.ts';
export { assertNever, ProtocolError, type ProtocolErrorCode } from './protocol-error.ts';
export { checkJsonValue, parseJsonObject, parseJsonText } from './safe-json.ts';
export type { StructName } from './struct-descriptors.ts';
export {
  campaignTraceId,
  formatTraceparent,
  isTraceId,
  newSpanId,
  newTraceId,
  parseTraceparent,
  submitSpanId,
  type TraceParent,
} from './trace-context.ts';
export {
  checkDataRef,
  checkHash,
  normalizeFeature,
  QOS_LIMITS,
  type ValidateOptions,
  validateEnvelope,
} from './validate.ts';
export {
  checkWasiParams,
  isGuestPath,
  isUnderGuestPath,
  WASI_MOUNT_LIMITS,
  type WasiFsParams,
} from './wasi-params.ts';
export { checkWellFormedText, decodeUtf8Strict, illFormedTextPath } from './well-formed.ts';
