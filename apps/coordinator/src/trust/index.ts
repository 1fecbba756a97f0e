export { adapterClassOf, DEFAULT_DEVICE_WEIGHTS, type DeviceClass, deviceClassOf } from './adapter-class.ts';
export type { WorkerRef } from './engine-context.ts';
export {
  BuiltinKnownAnswers,
  DEFAULT_CHECKS,
  type DefaultCheck,
  type KnownAnswer,
  type KnownAnswerRequest,
  type KnownAnswerSource,
  mimicTaskId,
  moduleKeyOf,
  type ReferenceOp,
  type ReferenceOps,
} from './known-answers.ts';
export { MemoryTrustStore } from './memory-trust-store.ts';
export type { Verdict } from './quorum.ts';
export { FirstKnownAnswers, ReplayKnownAnswers } from './replay-known-answers.ts';
export type { VerificationStatus } from './replicas.ts';
export {
  digestOutputs,
  outputsOf,
  type ReplicaOutput,
  type ResultDigest,
  sameResult,
  sha256Of,
} from './result-digest.ts';
export type { CheckVerdict, IssuedCheck } from './spot-checks.ts';
export { SqliteTrustStore } from './sqlite-trust-store.ts';
export type { StandingView } from './standing.ts';
export { cryptoRandom, TrustEngine, type TrustEngineOptions } from './trust-engine.ts';
export { TrustError, type TrustErrorCode } from './trust-error.ts';
export type {
  AcceptedBy,
  ReplicaRecord,
  ReplicaStatus,
  Reputation,
  ResultGroup,
  SpotCheckRecord,
  TaskVerification,
  TrustStore,
  UnconfirmedResult,
  VerificationState,
  WorkerStanding,
} from './trust-store.ts';
export { MAX_UNCONFIRMED } from './trust-store.ts';
export {
  DEFAULT_POLICY_DEFAULTS,
  type PolicyDefaults,
  REPLICA_CEILING,
  type ResolvedPolicy,
  resolvePolicy,
} from './verification-policy.ts';
