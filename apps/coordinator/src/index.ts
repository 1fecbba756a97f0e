export { ApiKeys } from './api-keys.ts';
export { BlobStore, blobHex, sha256Hex } from './blob-store.ts';
export { type CoordinatorConfig, DEFAULT_CONFIG, loadConfig, parseApiKeys, resolveConfig } from './config.ts';
export { type AckCode, Coordinator, type WorkerLink, type WorkerState } from './coordinator.ts';
export { assertNever, CoordinatorError, type CoordinatorErrorCode } from './errors.ts';
export { type EventFilter, EventsHub, type TaskEvent } from './events-hub.ts';
export { type Lease, LeaseTable } from './lease-table.ts';
export { needsSharedMemory, preferenceScore, unmetRequirement } from './matching.ts';
export { Metrics } from './metrics.ts';
export { eligible, freeSlots, type Match, type SchedTask, Scheduler, type SchedWorker } from './scheduler.ts';
export { SqliteStore } from './sqlite-store.ts';
export { type RunningCoordinator, type StartOptions, startCoordinator } from './start-coordinator.ts';
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
} from './store.ts';
export { TaskTokens } from './task-tokens.ts';
export { type TaskView, taskView } from './task-view.ts';
