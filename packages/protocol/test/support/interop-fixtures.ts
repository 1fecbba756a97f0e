// Known-answer fixtures for the interop test: each message written twice, once as Cap'n Proto text
// for the reference `capnp` tool and once as the object Flock must decode it to. Together they set
// every field of ComputeEnvelope and ComputeResult (interop.test.ts checks that).
import type { ComputeAssignment, ComputeEnvelope, ComputeResult, Frame } from '../../src/index.ts';

const HASH = `sha256:${'ab'.repeat(32)}`;

export const ENVELOPE_TEXT = `(
  taskId = "t-123",
  op = "fft",
  version = "1.0.0",
  module = (
    kind = wgsl,
    uri = "https://cdn.example/fft.wgsl",
    hash = "${HASH}",
    entry = "main",
    inline = 0x"40 63 6f 6d 70 75 74 65",
    abi = "kernel",
    permissions = (
      memoryPages = 256, timeoutMs = 30000, maxInputBytes = 1048576, maxOutputBytes = 9007199254740991,
      fuel = 123456789012, wasiFs = true, wasiNet = true, gpuAccess = true),
    workgroups = [64, 2, 1]),
  requirements = (
    min = (
      webgpu = true,
      gpu = (backend = "webgpu", vendor = "google", architecture = "swiftshader", device = "d",
        description = "SwiftShader Device", features = ["shader_f16", "timestamp-query"],
        limits = [(name = "maxStorageBufferBindingSize", value = 134217728)],
        isFallbackAdapter = true),
      wasm = true, wasmSimd = true, wasmThreads = true, cpuCores = 4, memoryMb = 8192,
      crossOriginIsolated = true, secureContext = true),
    preferred = (cpuCores = 16),
    qos = (priority = -3, deadlineMs = 2592000000, retries = 20)),
  inputs = [
    (name = "signal", contentType = "application/octet-stream", body = (inlineBytes = 0x"00 01 fe ff"),
      hash = "${HASH}", size = 4,
      tensor = (dtype = "f32", shape = [1, 4294967296, 9007199254740991], layout = "col_major")),
    (name = "config", contentType = "application/json", body = (inlineJson = "{\\"k\\":[1,2]}")),
    (name = "weights", body = (uri = "s3://bucket/w.bin"), size = 1024)],
  params = "{\\"window\\":\\"hann\\",\\"n\\":1024,\\"nested\\":{\\"a\\":[true,null,-1.5]},\\"unicode\\":\\"åλ😀\\"}",
  returnChannel = "analytics:ingest:v1:requested",
  security = (taskToken = "hmac:0123456789abcdef0123"),
  buffers = [
    (name = "signal", group = 1, binding = 2, access = readWrite, size = 16,
      tensor = (dtype = "u32", shape = [4])),
    (name = "u", access = uniform)],
  verification = (replicas = 3, quorum = 2, comparator = tolerance, absTolerance = 0.001,
    relTolerance = 1e-7, homogeneous = true, maxReplicas = 5),
  campaignId = "camp-7",
  correlationId = "corr-9")`;

export const ENVELOPE: ComputeEnvelope = {
  task_id: 't-123',
  op: 'fft',
  version: '1.0.0',
  module: {
    kind: 'wgsl',
    uri: 'https://cdn.example/fft.wgsl',
    hash: HASH,
    entry: 'main',
    inline: new TextEncoder().encode('@compute'),
    abi: 'kernel',
    permissions: {
      memory_pages: 256,
      timeout_ms: 30000,
      max_input_bytes: 1048576,
      max_output_bytes: Number.MAX_SAFE_INTEGER,
      fuel: 123456789012,
      wasi_fs: true,
      wasi_net: true,
      gpu_access: true,
    },
    workgroups: [64, 2, 1],
  },
  requirements: {
    min: {
      webgpu: true,
      gpu: {
        backend: 'webgpu',
        vendor: 'google',
        architecture: 'swiftshader',
        device: 'd',
        description: 'SwiftShader Device',
        features: ['shader_f16', 'timestamp-query'],
        limits: [{ name: 'maxStorageBufferBindingSize', value: 134217728 }],
        is_fallback_adapter: true,
      },
      wasm: true,
      wasm_simd: true,
      wasm_threads: true,
      cpu_cores: 4,
      memory_mb: 8192,
      cross_origin_isolated: true,
      secure_context: true,
    },
    preferred: { cpu_cores: 16 },
    qos: { priority: -3, deadline_ms: 2592000000, retries: 20 },
  },
  inputs: [
    {
      name: 'signal',
      content_type: 'application/octet-stream',
      inline_bytes: new Uint8Array([0, 1, 0xfe, 0xff]),
      hash: HASH,
      size: 4,
      tensor: { dtype: 'f32', shape: [1, 4294967296, Number.MAX_SAFE_INTEGER], layout: 'col_major' },
    },
    { name: 'config', content_type: 'application/json', inline_json: '{"k":[1,2]}' },
    { name: 'weights', uri: 's3://bucket/w.bin', size: 1024 },
  ],
  params: { window: 'hann', n: 1024, nested: { a: [true, null, -1.5] }, unicode: 'åλ😀' },
  return_channel: 'analytics:ingest:v1:requested',
  security: { task_token: 'hmac:0123456789abcdef0123' },
  buffers: [
    {
      name: 'signal',
      group: 1,
      binding: 2,
      access: 'read_write',
      size: 16,
      tensor: { dtype: 'u32', shape: [4] },
    },
    // Enums always show when decoded: `access` is uniform here, `read` (ordinal 0) elsewhere.
    { name: 'u', access: 'uniform' },
  ],
  verification: {
    replicas: 3,
    quorum: 2,
    comparator: 'tolerance',
    abs_tolerance: 0.001,
    rel_tolerance: 1e-7,
    homogeneous: true,
    max_replicas: 5,
  },
  campaign_id: 'camp-7',
  correlation_id: 'corr-9',
};

export const RESULT_TEXT = `(
  taskId = "t-123", leaseId = "lease-1", taskToken = "hmac:0123456789abcdef0123", workerId = "edge-42",
  outputs = [
    (name = "spectrum", contentType = "application/octet-stream", body = (uri = "s3://bucket/obj"),
      hash = "${HASH}", size = 8192, tensor = (dtype = "c64", shape = [1024], layout = "row_major")),
    (name = "stats", body = (inlineJson = "{\\"peak\\":3}")),
    (name = "raw", body = (inlineBytes = 0x"de ad be ef"))],
  summary = [(key = "bins", value = "1024"), (key = "", value = "")],
  metrics = [(key = "tokens_s", value = "1200")],
  executor = "wgsl",
  durationMs = 1234567,
  correlationId = "4bf92f3577b34da6a3ce929d0e0e4736")`;

export const RESULT: ComputeResult = {
  task_id: 't-123',
  lease_id: 'lease-1',
  task_token: 'hmac:0123456789abcdef0123',
  worker_id: 'edge-42',
  outputs: [
    {
      name: 'spectrum',
      content_type: 'application/octet-stream',
      uri: 's3://bucket/obj',
      hash: HASH,
      size: 8192,
      tensor: { dtype: 'c64', shape: [1024], layout: 'row_major' },
    },
    { name: 'stats', inline_json: '{"peak":3}' },
    { name: 'raw', inline_bytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
  ],
  // String maps are List(KeyValue) on the wire, in insertion order; the empty key is a key.
  summary: { bins: '1024', '': '' },
  metrics: { tokens_s: '1200' },
  executor: 'wgsl',
  duration_ms: 1234567,
  correlation_id: '4bf92f3577b34da6a3ce929d0e0e4736',
};

export const ASSIGNMENT_FRAME_TEXT = `(
  id = "5b0e3c8e-7f0a-4d8b-9a51-0c2d6f1e9b77",
  type = job,
  topic = "compute:dispatch:v1:accepted",
  ts = "2026-11-22T15:04:05.678Z",
  schema = "flock.v1.ComputeAssignment",
  trace = (correlationId = "corr-9", spanId = "span-2", parentId = "span-1"),
  metadata = (campaignId = "camp-7", tenant = "acme", userId = "u-1"),
  payload = (assignment = (
    taskId = "t-123", workerId = "edge-42", leaseId = "lease-1", leaseExpiresAtMs = 1795000000000,
    attempt = 2, taskToken = "hmac:0123456789abcdef0123",
    envelope = ${ENVELOPE_TEXT})))`;

const ASSIGNMENT: ComputeAssignment = {
  task_id: 't-123',
  worker_id: 'edge-42',
  lease_id: 'lease-1',
  lease_expires_at_ms: 1795000000000,
  attempt: 2,
  task_token: 'hmac:0123456789abcdef0123',
  envelope: ENVELOPE,
};

export const ASSIGNMENT_FRAME: Frame = {
  id: '5b0e3c8e-7f0a-4d8b-9a51-0c2d6f1e9b77',
  type: 'job',
  topic: 'compute:dispatch:v1:accepted',
  ts: '2026-11-22T15:04:05.678Z',
  schema: 'flock.v1.ComputeAssignment',
  trace: { correlation_id: 'corr-9', span_id: 'span-2', parent_id: 'span-1' },
  metadata: { campaign_id: 'camp-7', tenant: 'acme', user_id: 'u-1' },
  payload: { assignment: ASSIGNMENT },
};
