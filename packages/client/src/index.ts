export type {
  AcceptedBy,
  BreakerState,
  BreakerView,
  CampaignCounts,
  CampaignView,
  CreatedKey,
  EventTrace,
  KeyView,
  ModuleRef,
  OpLevelView,
  SloKind,
  SloTargets,
  StatsView,
  TaskAttempt,
  TaskEvent,
  TaskPage,
  TaskQuery,
  TaskState,
  TaskVerification,
  TaskView,
  VerificationState,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryQuery,
  WorkerView,
} from './api-types.ts';
export { isTerminal, TERMINAL_STATES } from './api-types.ts';
export type {
  AuditEntry,
  AuditPage,
  AuditQuery,
  ReplaySide,
  ReplaySource,
  ReplayStatus,
  ReplayView,
  WorkerFingerprint,
} from './audit-types.ts';
export type { SocketLike, Take, WebSocketConstructor } from './event-stream.ts';
export { EventStream, fromBusEnvelope } from './event-stream.ts';
export type { FlockClientOptions, SubmitOptions } from './flock-client.ts';
export { FlockClient } from './flock-client.ts';
export type { ClientErrorCode } from './flock-error.ts';
export { FlockError, isFlockError } from './flock-error.ts';
export type { FetchLike } from './http-transport.ts';
export {
  checkLibraryParams,
  type LibraryFile,
  type LibraryMapOptions,
  type LibraryOp,
  type LibraryParams,
  type LibraryTaskOptions,
} from './library-calls.ts';
export { contentTypeOf, INLINE_INPUT_BYTES, libraryInput } from './library-inputs.ts';
export type { MapInput, MapOptions, MapOutcome, MapProgress } from './map-tasks.ts';
export { toDataRefs } from './map-tasks.ts';
export {
  formatSuccessRate,
  formatWindow,
  sloTargetsText,
  sloTargetText,
  violationsText,
} from './service-level-text.ts';
export { signBody, signEnvelope, taskToken } from './sign-envelope.ts';
export type { TaskBackend, WaitOptions, WatchOptions } from './task.ts';
export { eventFromView, Task } from './task.ts';
export {
  type JoinedOutput,
  joinFileOutputs,
  joinRows,
  readTensorFile,
  splitRows,
  type TensorBytes,
  type TensorFile,
  type TensorMapOptions,
  type TensorOutcome,
} from './tensor-batches.ts';
export type { TrustStatus } from './trust-text.ts';
export { formatCredit, trustStatus, verificationText } from './trust-text.ts';
export {
  type VerifyWebhookOptions,
  verifyWebhook,
  WEBHOOK_TOLERANCE_S,
} from './verify-webhook.ts';
export type {
  StepState,
  WorkflowBackend,
  WorkflowState,
  WorkflowStepView,
  WorkflowView,
} from './workflow.ts';
export { Workflow } from './workflow.ts';
