/** Decoding limits. Every frame from the network is checked against these before it is used. */
export interface DecodeLimits {
  /** Largest frame in bytes. Default 1 MiB (the coordinator's ws maxPayload). */
  maxFrameBytes: number;
  /** Most segments a framed message may declare. Default 64. */
  maxSegments: number;
  /**
   * Decoding work allowed per input byte: capnp-es charges one unit per pointer it follows, and
   * Flock charges one per list element and one per 8 bytes of text or data it reads (so aliased
   * pointers cannot amplify a frame). Default 4, so a frame of n bytes costs at most about 4n.
   */
  traversalPerByte: number;
  /** Deepest struct nesting. Default 64 (capnp-es enforces none by default). */
  maxDepth: number;
  /** Largest params JSON text in bytes. Default 1 MiB. */
  maxParamsBytes: number;
  /** Deepest params JSON nesting. Default 64. */
  maxParamsDepth: number;
  /**
   * Data fields come back as views into the decoded bytes instead of copies: decoding a frame in
   * place. Only for a caller that owns those bytes for as long as it uses the fields (a
   * WebSocket message's own ArrayBuffer, say). Default false.
   */
  dataViews: boolean;
}

export const DEFAULT_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxFrameBytes: 1 << 20,
  maxSegments: 64,
  traversalPerByte: 4,
  maxDepth: 64,
  maxParamsBytes: 1 << 20,
  maxParamsDepth: 64,
  dataViews: false,
});

/** Limits `resolveLimits` made: given back to it (a frame codec passes them on), taken as they are. */
const RESOLVED = new WeakSet<object>();

/**
 * Every limit, `limits` over the defaults. A caller that encodes or decodes often resolves its
 * limits once and passes the result: it is returned as it is, not copied again on every call.
 */
export function resolveLimits(limits?: Partial<DecodeLimits>): DecodeLimits {
  if (!limits || limits === DEFAULT_LIMITS) return DEFAULT_LIMITS;
  if (RESOLVED.has(limits)) return limits as DecodeLimits;
  const resolved = { ...DEFAULT_LIMITS, ...limits };
  RESOLVED.add(resolved);
  return resolved;
}

/**
 * The executor's default wall-clock limit of a job when `permissions.timeout_ms` is 0 (tabs
 * enforce it; the coordinator ends a lease held past it plus a grace).
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Fuel: WASM modules run with an instruction budget. The coordinator instruments every module
 * with a mutable i64 global exported under this name, charged as the module runs (about one unit
 * per WASM instruction); the executor sets it to the budget before the run and reads what is
 * left after. A trap with the global below zero is FUEL_EXHAUSTED.
 */
export const FUEL_GLOBAL = '__flock_fuel';

/** The budget when `permissions.fuel` is 0: 10^12 units, far past any default timeout. */
export const DEFAULT_FUEL = 1_000_000_000_000;
