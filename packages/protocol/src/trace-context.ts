// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header, and the
// trace and span ids Flock mints. A task's trace id is its envelope's `correlation_id`.

/** A parsed `traceparent`: version 00's four fields, lowercase hex. */
export interface TraceParent {
  /** 32 hex digits, not all zero. */
  traceId: string;
  /** 16 hex digits, not all zero: the caller's span. */
  parentId: string;
  /** 2 hex digits (`01`: sampled). */
  flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a `traceparent` header. Undefined for an absent or invalid one, which the spec says a
 * receiver must ignore (and start a new trace): a version other than 2 lowercase hex digits or
 * `ff`, version 00 with anything after its flags, ids of the wrong length or all zero.
 */
export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  if (header === undefined) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, parentId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, parentId: parentId!, flags: flags! };
}

/** `00-<traceId>-<spanId>-<flags>`, the header a callee sends on. */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

/** Whether `id` is a W3C trace id (32 lowercase hex digits, not all zero). */
export function isTraceId(id: string | undefined): boolean {
  return id !== undefined && /^[0-9a-f]{32}$/.test(id) && id !== ZERO_TRACE;
}

const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/**
 * The character codes of a 16- and a 32-digit id, written over for each id and made into one
 * string: appending two digits at a time made a string per step (~0.3 KB an id, one per frame).
 */
const CODES_16 = Array.from({ length: 16 }, () => 0x30);
const CODES_32 = Array.from({ length: 32 }, () => 0x30);
/** Random bytes drawn 4 KiB at a time: one getRandomValues call per 256 trace ids. */
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

function randomHex(bytes: 8 | 16): string {
  if (poolAt + bytes > POOL.length) {
    crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  const codes = bytes === 8 ? CODES_16 : CODES_32;
  let zero = true;
  for (let i = 0; i < bytes; i++) {
    const b = POOL[poolAt + i]!;
    if (b !== 0) zero = false;
    codes[2 * i] = HEX_CODES[b >> 4]!;
    codes[2 * i + 1] = HEX_CODES[b & 15]!;
  }
  poolAt += bytes;
  return zero ? randomHex(bytes) : String.fromCharCode.apply(null, codes);
}

/**
 * A new trace id: 16 random bytes as 32 hex digits. Random, not a counter, so that a minted id
 * says nothing of how many came before, and a spot check's id (drawn fresh) looks the same.
 */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new span id: 8 random bytes as 16 hex digits. */
export function newSpanId(): string {
  return randomHex(8);
}

/**
 * The span id a task's submission has in the trace `traceId`, derived (not stored) from the
 * trace id and the task id: FNV-1a over both, two 32-bit lanes with different offsets. The
 * coordinator answers it in `traceparent` at submit and names it as each lease's `parent_id`.
 */
export function submitSpanId(traceId: string, taskId: string): string {
  // Over `${traceId}\n${taskId}`, without making that string (one per assignment).
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i <= traceId.length + taskId.length; i++) {
    const c =
      i < traceId.length
        ? traceId.charCodeAt(i)
        : i === traceId.length
          ? 0x0a
          : taskId.charCodeAt(i - traceId.length - 1);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c ^ (a >>> 7), 0x01000193);
  }
  if (a === 0 && b === 0) b = 1;
  for (let i = 0; i < 8; i++) {
    CODES_16[i] = HEX_CODES[(a >>> (28 - 4 * i)) & 15]!;
    CODES_16[8 + i] = HEX_CODES[(b >>> (28 - 4 * i)) & 15]!;
  }
  return String.fromCharCode.apply(null, CODES_16);
}

/**
 * The trace id a campaign's tasks share (a workflow's steps are the campaign of its id), derived
 * from its tenant and id, so every submission into it and every coordinator computes the same one
 * with nothing stored: two submission span ids of the pair, as 32 hex digits.
 */
export function campaignTraceId(tenant: string, campaignId: string): string {
  return submitSpanId(tenant, campaignId) + submitSpanId(campaignId, tenant);
}
