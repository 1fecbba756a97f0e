@0xebcbd52ecfc2023b;
# The bus frame (seeds/bus-spec.md §5.2), the worker control messages, and streams (§5.5).
# Every WebSocket frame between coordinator and volunteer is exactly one Frame message.

using Compute = import "compute.capnp";

enum FrameType {
  event @0;
  job @1;
  jobResult @2;
  streamStart @3;
  streamChunk @4;
  streamEnd @5;
  control @6;
}

struct Trace {
  correlationId @0 :Text;
  spanId @1 :Text;
  parentId @2 :Text;
}

struct Metadata {
  campaignId @0 :Text;
  tenant @1 :Text;
  userId @2 :Text;
}

struct Hello {
  # Volunteer -> coordinator, first frame on a connection.
  protocolVersion @0 :UInt32;
  capability @1 :Compute.Capability;
  sessionToken @2 :Text;     # from an earlier Welcome: resume that worker identity
  inFlight @3 :List(Text);   # lease ids the tab still runs (kept across reloads)
  undelivered @4 :List(Compute.ComputeResult); # results finished while disconnected
  client @5 :Text;           # user agent summary, for the workers view
}

struct Welcome {
  # Coordinator -> volunteer, answer to Hello.
  workerId @0 :Text;
  sessionToken @1 :Text;
  heartbeatMs @2 :UInt32;
  leaseMs @3 :UInt32;
  maxFrameBytes @4 :UInt32;
  resumed @5 :Bool;
  serverTimeMs @6 :UInt64;
  standing @7 :Standing;     # what this identity has earned so far
}

struct Standing {
  # A volunteer's trust standing and credit, for its own page (apps/coordinator/TRUST.md).
  credit @0 :Float64;          # device-weighted compute seconds of validated results
  pendingCredit @1 :Float64;   # results believed alone, confirmed by the next passed check
  validResults @2 :UInt32;
  invalidResults @3 :UInt32;
  vetted @4 :Bool;             # passed a known-answer check
  quarantined @5 :Bool;        # failed one: results no longer count
  unchecked @6 :Bool;          # the coordinator runs no known-answer checks (FLOCK_SPOT_CHECKS=off): nobody is vetted
}

struct Heartbeat {
  # Volunteer -> coordinator: renews every listed lease it still works on.
  seq @0 :UInt64;
  leaseIds @1 :List(Text);
}

struct LeaseRenewal {
  leaseId @0 :Text;
  expiresAtMs @1 :UInt64;
  valid @2 :Bool;            # false: the lease is gone (expired, cancelled); stop that job
}

struct HeartbeatAck {
  seq @0 :UInt64;
  leases @1 :List(LeaseRenewal);
  standing @2 :Standing;     # the volunteer's current standing and credit
}

struct Cancel {
  # Coordinator -> volunteer: stop this job now.
  taskId @0 :Text;
  leaseId @1 :Text;
  reason @2 :Text;
}

struct CancelAck {
  taskId @0 :Text;
  leaseId @1 :Text;
}

struct ResultAck {
  # Coordinator -> volunteer: the result (or failure) for this lease was stored (accepted) or
  # refused (`code`, e.g. LEASE_EXPIRED, WRONG_TOKEN). Either way the tab may forget it.
  taskId @0 :Text;
  leaseId @1 :Text;
  accepted @2 :Bool;
  code @3 :Text;
}

struct ErrorMessage {
  # Sent before the coordinator closes a connection for a protocol violation.
  code @0 :Text;
  message @1 :Text;
}

struct StreamStart {
  # Opens a large output that does not fit one frame; chunks follow in order.
  streamId @0 :Text;
  taskId @1 :Text;
  leaseId @2 :Text;
  taskToken @3 :Text;
  name @4 :Text;             # the output DataRef name
  contentType @5 :Text;
  totalBytes @6 :UInt64;
  hash @7 :Text;             # "sha256:<hex>" of the whole stream
}

struct StreamChunk {
  streamId @0 :Text;
  seq @1 :UInt32;            # 0, 1, 2, ... without gaps
  data @2 :Data;
}

enum StreamStatus {
  ok @0;
  aborted @1;
}

struct StreamEnd {
  streamId @0 :Text;
  status @1 :StreamStatus;
  chunks @2 :UInt32;
  totalBytes @3 :UInt64;
}

struct Frame {
  id @0 :Text;               # UUID
  type @1 :FrameType;
  topic @2 :Text;            # event name, e.g. "compute:dispatch:v1:progress"
  ts @3 :Text;               # ISO-8601
  schema @4 :Text;           # logical schema id, e.g. "flock.compute.v1.ComputeProgress"
  trace @5 :Trace;
  metadata @6 :Metadata;
  payload :union {
    none @7 :Void;
    envelope @8 :Compute.ComputeEnvelope;
    claim @9 :Compute.ComputeClaim;
    assignment @10 :Compute.ComputeAssignment;
    progress @11 :Compute.ComputeProgress;
    result @12 :Compute.ComputeResult;
    failure @13 :Compute.ComputeFailure;
    cancelled @14 :Compute.ComputeCancelled;
    capability @15 :Compute.Capability;
    hello @16 :Hello;
    welcome @17 :Welcome;
    heartbeat @18 :Heartbeat;
    heartbeatAck @19 :HeartbeatAck;
    cancel @20 :Cancel;
    cancelAck @21 :CancelAck;
    error @22 :ErrorMessage;
    streamStart @23 :StreamStart;
    streamChunk @24 :StreamChunk;
    streamEnd @25 :StreamEnd;
    resultAck @26 :ResultAck;
  }
}

struct ArenaSlice {
  # A region of a sab-bridge arena: where a job's input or output bytes lie.
  name @0 :Text;
  offset @1 :UInt32;         # byte offset in the arena
  length @2 :UInt32;         # bytes used (the block may be larger)
  generation @3 :UInt32;     # handle generation; a stale handle is refused
}

enum BridgeRecordKind {
  job @0;                    # main -> executor: run this
  result @1;                 # executor -> main: outputs are in `slices`
  failure @2;                # executor -> main: `code`, `message`, `retryable`
  progress @3;               # executor -> main
  cancel @4;                 # main -> executor
}

struct BridgeRecord {
  # One record of a sab-bridge ring: a small header; bulk bytes stay in the arena.
  kind @0 :BridgeRecordKind;
  jobId @1 :UInt32;
  taskId @2 :Text;
  slices @3 :List(ArenaSlice);
  code @4 :Text;
  message @5 :Text;
  retryable @6 :Bool;
  pct @7 :Float32;
  params @8 :Text;           # JSON text passed through to the executor
}
