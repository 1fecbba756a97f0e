@0x9fe1316ce7dd673e;
# The compute messages of seeds/compute-events.md (common.v1.*), as Flock carries them.
#
# Conventions
# - Optional scalars use the schema default (0, false, "") to mean "not set"; the JSON view omits
#   them, so JSON -> Cap'n Proto -> JSON is lossless for canonical JSON (defaults left out).
# - Times are milliseconds: durations as `...Ms`, instants as Unix epoch ms (`...AtMs`).
# - Free-form string maps (metrics, summary, labels) are lists of KeyValue, in insertion order.
# - Fields are only ever added (never renumbered): old frames stay readable.

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct TensorSpec {
  # Shape and element type of a dense tensor carried in a DataRef or BufferSpec.
  dtype @0 :Text;          # "f32", "f16", "i32", "u32", "u8", "i8", "f64", "c64" (complex f32 pairs)
  shape @1 :List(UInt64);  # row-major, outermost first
  layout @2 :Text;         # "" or "row_major" (default), "col_major"
}

struct DataRef {
  # A named input or output. Body exclusivity (validation rule 2): exactly one of
  # inline_json, inline_bytes, uri; `none` is the unset state and is rejected by validation.
  name @0 :Text;
  contentType @1 :Text;
  body :union {
    none @2 :Void;
    inlineJson @3 :Text;
    inlineBytes @4 :Data;
    uri @5 :Text;
  }
  hash @6 :Text;           # "sha256:<64 hex>" or "blake3:<64 hex>" of the body bytes, optional
  size @7 :UInt64;         # byte length of the body, optional (required for streamed outputs)
  tensor @8 :TensorSpec;
}

enum BufferAccess {
  read @0;                 # var<storage, read>
  readWrite @1;            # var<storage, read_write>
  uniform @2;              # var<uniform>
}

struct BufferSpec {
  # One WGSL binding. `name` matches an input DataRef (its bytes are uploaded) or names an output
  # (zero-initialised buffer of `size` bytes, read back as an output DataRef of the same name).
  name @0 :Text;
  group @1 :UInt32;
  binding @2 :UInt32;
  access @3 :BufferAccess;
  size @4 :UInt64;         # bytes; required for outputs, checked against inputs otherwise
  tensor @5 :TensorSpec;
}

struct GpuLimit {
  name @0 :Text;           # a GPUSupportedLimits name, e.g. "maxStorageBufferBindingSize"
  value @1 :UInt64;
}

struct GPUDescriptor {
  # A GPU as a worker reports it, or as a task requires it (features must all be present,
  # limits are minimums, non-empty strings must match).
  backend @0 :Text;        # "webgpu"
  vendor @1 :Text;         # GPUAdapterInfo.vendor, e.g. "google", "nvidia"
  architecture @2 :Text;   # GPUAdapterInfo.architecture, e.g. "swiftshader"
  device @3 :Text;
  description @4 :Text;
  features @5 :List(Text); # WebGPU feature names; "shader-f16" and "shader_f16" are the same
  limits @6 :List(GpuLimit);
  isFallbackAdapter @7 :Bool;
}

struct Battery {
  charging @0 :Bool;
  level @1 :Float32;       # 0..1
}

struct Capability {
  # What a volunteer tab can do now; republished on every change (compute:capabilities:v1:update).
  wasm @0 :Bool;
  wasmSimd @1 :Bool;
  wasmThreads @2 :Bool;
  wasmRelaxedSimd @3 :Bool;
  wasmBulkMemory @4 :Bool;
  webgpu @5 :Bool;
  gpu @6 :GPUDescriptor;
  cpuCores @7 :UInt32;     # navigator.hardwareConcurrency
  memoryMb @8 :UInt32;     # navigator.deviceMemory * 1024, 0 when unknown
  crossOriginIsolated @9 :Bool;
  sharedArrayBuffer @10 :Bool;
  cpuSlots @11 :UInt32;    # concurrent WASM jobs the tab accepts
  gpuSlots @12 :UInt32;    # concurrent WGSL jobs the tab accepts (0 or 1)
  battery @13 :Battery;
  visible @14 :Bool;
  cachedModules @15 :List(Text); # module hashes compiled and cached in IndexedDB
  labels @16 :List(KeyValue);    # browser, os, driver, network, ...
  paused @17 :Bool;        # the volunteer paused: no new assignments
  prefetch @18 :UInt32;    # assignments the tab queues beyond its running slots (0: none)
  libraries @19 :List(Text);  # libraries loaded (warm) in the tab's executors ("image", "data", ...)
  batchFrames @20 :UInt32; # frames the tab takes in one WebSocket message, concatenated (0 or 1: one a message)
  secureContext @21 :Bool; # isSecureContext: WebCrypto (crypto.subtle) is there; a cross-origin-isolated tab is always one
}

struct Constraint {
  # A set of must-haves (requirements.min) or nice-to-haves (requirements.preferred).
  webgpu @0 :Bool;
  gpu @1 :GPUDescriptor;
  wasm @2 :Bool;
  wasmSimd @3 :Bool;
  wasmThreads @4 :Bool;
  cpuCores @5 :UInt32;
  memoryMb @6 :UInt32;
  crossOriginIsolated @7 :Bool;
  secureContext @8 :Bool;   # met by a capability's secureContext or crossOriginIsolated (isolation implies it)
}

struct Qos {
  priority @0 :Int32;      # -10..10, higher first; default 0
  deadlineMs @1 :UInt64;   # time budget from acceptance, 0 = none; at most 30 days
  retries @2 :UInt32;      # extra attempts after a retryable failure, 0..20
}

struct Requirements {
  min @0 :Constraint;
  preferred @1 :Constraint;
  qos @2 :Qos;
}

enum ModuleKind {
  wasm @0;
  wgsl @1;
  builtin @2;
  library @3;   # a method of a library the tab loads (op = "<library>.<method>", params checked by its schema)
}

struct Permissions {
  # Limits the executor enforces (compute-module.md "resource limits per job"). 0 = the
  # executor's default.
  memoryPages @0 :UInt32;    # WASM linear memory ceiling, 64 KiB pages
  timeoutMs @1 :UInt32;      # wall-clock limit; the executor is terminated past it
  maxInputBytes @2 :UInt64;
  maxOutputBytes @3 :UInt64;
  fuel @4 :UInt64;           # reserved: instruction budget where the executor meters one
  wasiFs @5 :Bool;           # /in and /out preopens (WASI ABI)
  wasiNet @6 :Bool;          # always refused in browsers; present for the contract
  gpuAccess @7 :Bool;
}

struct ModuleSpec {
  kind @0 :ModuleKind;
  uri @1 :Text;              # http(s)://, s3://, ipfs:// (needs hash) or "flock:sha256:..." (uploaded)
  hash @2 :Text;             # "sha256:<hex>" or "blake3:<hex>" of the module bytes
  entry @3 :Text;            # WASM export or WGSL entry point; builtin: unused
  inline @4 :Data;           # WASM bytes or WGSL source (UTF-8), instead of uri
  abi @5 :Text;              # wasm: "wasi" (default) or "kernel"
  permissions @6 :Permissions;
  workgroups @7 :List(UInt32); # wgsl: dispatch size x[,y[,z]]
}

enum Comparator {
  exact @0;                  # outputs equal byte for byte (compared by hash)
  tolerance @1;              # f32 outputs equal within abs/rel tolerance
}

struct VerificationPolicy {
  replicas @0 :UInt32;       # initial copies run, 0 = coordinator default (adaptive)
  quorum @1 :UInt32;         # agreeing results needed for a canonical result
  comparator @2 :Comparator;
  absTolerance @3 :Float64;
  relTolerance @4 :Float64;
  homogeneous @5 :Bool;      # replicas only on the same adapter class
  maxReplicas @6 :UInt32;    # cap when replicas disagree
}

struct Security {
  taskToken @0 :Text;        # "hmac:..." requester-signed token (rule 6)
}

struct ComputeEnvelope {
  # compute:dispatch:v1:requested
  taskId @0 :Text;
  op @1 :Text;
  version @2 :Text;
  module @3 :ModuleSpec;
  requirements @4 :Requirements;
  inputs @5 :List(DataRef);
  params @6 :Text;           # JSON object text; the JSON view shows it as an object
  returnChannel @7 :Text;
  security @8 :Security;
  buffers @9 :List(BufferSpec);
  verification @10 :VerificationPolicy;
  campaignId @11 :Text;
  correlationId @12 :Text;
}

struct ComputeClaim {
  # A worker asking for work (compute:dispatch:v1:accepted when granted).
  workerId @0 :Text;
  taskId @1 :Text;           # a specific task, or "" for any
  slots @2 :UInt32;          # how many more assignments the worker takes now
}

struct ComputeAssignment {
  # compute:dispatch:v1:accepted: a lease on one attempt of one task.
  taskId @0 :Text;
  workerId @1 :Text;
  leaseId @2 :Text;
  leaseExpiresAtMs @3 :UInt64;
  attempt @4 :UInt32;        # 1 for the first attempt
  taskToken @5 :Text;        # per-assignment HMAC; the worker echoes it with its result
  envelope @6 :ComputeEnvelope;
}

struct ComputeProgress {
  # compute:dispatch:v1:progress
  taskId @0 :Text;
  leaseId @1 :Text;
  pct @2 :Float32;           # 0..100
  metrics @3 :List(KeyValue);
  message @4 :Text;
}

struct ComputeResult {
  # compute:dispatch:v1:success
  taskId @0 :Text;
  leaseId @1 :Text;
  taskToken @2 :Text;
  workerId @3 :Text;
  outputs @4 :List(DataRef);
  summary @5 :List(KeyValue);
  metrics @6 :List(KeyValue);
  executor @7 :Text;         # "wasm", "wgsl", "wasm-simd", ... what actually ran
  durationMs @8 :UInt64;
  correlationId @9 :Text;    # the task's trace id (its envelope's correlation_id); set by the coordinator
}

struct ComputeFailure {
  # compute:dispatch:v1:failed
  taskId @0 :Text;
  leaseId @1 :Text;
  taskToken @2 :Text;
  workerId @3 :Text;
  code @4 :Text;             # stable code, e.g. "TIMEOUT", "SHADER_COMPILE", "DEADLINE_EXCEEDED"
  message @5 :Text;
  retryable @6 :Bool;
  field @7 :Text;            # the offending field for validation failures
}

struct ComputeCancelled {
  # compute:dispatch:v1:cancelled
  taskId @0 :Text;
  reason @1 :Text;
}

# Workflows (apps/coordinator/WORKFLOWS.md): the body of POST /v1/workflows as Cap'n Proto
# (`application/x-capnp`); the JSON view of the API flattens each step's envelope into the step.

struct WorkflowDefinition {
  workflowId @0 :Text;          # empty: the coordinator names it
  steps @1 :List(WorkflowStep);
  onError @2 :ErrorPolicy;      # unset or inherit: abort
  returnChannel @3 :Text;
}

struct WorkflowStep {
  id @0 :Text;
  envelope @1 :ComputeEnvelope; # the task, without taskId and campaignId
  dependsOn @2 :List(Text);
  dependsOnSet @3 :Bool;        # false: the previous step (dependsOn is then ignored)
  when @4 :Text;                # a condition on summaries; empty: always
  forEach @5 :Text;             # "${steps.<id>.outputs}" or "${steps.<id>.outputs.<name>}"; empty: none
  onError @6 :ErrorPolicy;      # unset or inherit: the workflow's
  compensate @7 :ComputeEnvelope;
}

struct ErrorPolicy {
  kind @0 :ErrorKind;
  retry @1 :UInt32;             # kind retry: this many more attempts (1..10)
  backoffMs @2 :UInt32;         # kind retry: before the first of them, doubling; 0: 1000
}

enum ErrorKind {
  inherit @0;                   # the workflow's (for the workflow: abort)
  abort @1;
  skip @2;
  rollback @3;
  retry @4;
}
