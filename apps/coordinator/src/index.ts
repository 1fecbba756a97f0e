export { type CoordinatorConfig, DEFAULT_CONFIG, loadConfig, resolveConfig } from './config.ts';
export { ApiKeys } from './edge/api-keys.ts';
export { type EventFilter, EventsHub, type TaskEvent } from './edge/events-hub.ts';
export { type TaskView, taskView } from './edge/task-view.ts';
export { type AckCode, Coordinator, type WorkerLink, type WorkerState } from './engine/coordinator.ts';
export { type Lease, LeaseTable } from './engine/lease-table.ts';
export { needsSharedMemory, preferenceScore, unmetRequirement } from './engine/matching.ts';
export {
  eligible,
  freeSlots,
  type Match,
  type SchedTask,
  Scheduler,
  type SchedWorker,
} from './engine/scheduler.ts';
export { TaskTokens } from './engine/task-tokens.ts';
export { assertNever, CoordinatorError, type CoordinatorErrorCode } from './errors.ts';
export { parseApiKeys } from './key-config.ts';
export { Metrics } from './metrics.ts';
export { type RunningCoordinator, type StartOptions, startCoordinator } from './start-coordinator.ts';
export { BlobStore, blobHex, sha256Hex } from './store/blob-store.ts';
export { SqliteStore } from './store/sqlite-store.ts';
export type {
  AttemptOutcome,
  AttemptRecord,
  AuditRecord,
  CompleteTask,
  EndAttempt,
  InsertOutcome,
  NewLease,
  NewTask,
  Store,
  TaskFilter,
  TaskRecord,
  TaskState,
  WorkerRecord,
} from './store/store.ts';
