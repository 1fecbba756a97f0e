// The coordinator's cache of instrumented modules: each distinct module is instrumented once per
// process, looked up by the sha256 of the bytes the requester sent.
import { sha256Hex } from '../sha256.ts';

/** An instrumented module: its bytes and their content name `sha256:<hex>`. */
export interface FuelModule {
  hash: string;
  bytes: Uint8Array;
}

/** Options of `FuelModules`. */
export interface FuelModulesOptions {
  /**
   * Stores instrumented bytes and returns their sha256 hex (e.g. `BlobStore.put`); called once per
   * module instrumented. Default: only hashes them.
   */
  put?: (bytes: Uint8Array) => string;
  /** Most modules remembered. Default 64. */
  maxEntries?: number;
  /** Most instrumented bytes remembered, in bytes. Default 256 MiB. */
  maxBytes?: number;
  /**
   * Instruments a module: the coordinator passes a FuelThread's, so that binaryen never blocks its
   * event loop, nor loads on its main thread; `instrumentFuel(bytes, { existing: 'refuse' })` does it
   * on this thread. No default: this module must not import binaryen (module-meter.ts loads it on
   * the main thread).
   */
  instrument: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
}

/**
 * Instruments modules with fuel, memoised by the sha256 of the original bytes in an LRU map
 * (least recently used dropped first past `maxEntries` or `maxBytes`). Its own outputs are
 * remembered too and come back unchanged. Any other module that already exports `__flock_fuel`
 * is refused (FuelError ALREADY_NAMED): a requester must not be able to pass off an uncharged
 * global of that name as instrumented.
 */
export class FuelModules {
  private readonly byOriginal = new Map<string, FuelModule>();
  private readonly outputs = new Map<string, FuelModule>();
  private readonly put: (bytes: Uint8Array) => string;
  private readonly instrument: (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Misses being instrumented now, by original sha256: callers asking meanwhile share one. */
  private readonly inFlight = new Map<string, Promise<FuelModule>>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytesHeld = 0;
  private instrumented = 0;

  constructor(options: FuelModulesOptions) {
    this.put = options.put ?? sha256Hex;
    this.instrument = options.instrument;
    this.maxEntries = options.maxEntries ?? 64;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    if (!(this.maxEntries >= 1) || !(this.maxBytes >= 0)) {
      throw new RangeError('FuelModules: maxEntries must be >= 1 and maxBytes >= 0');
    }
  }

  /** Modules instrumented so far (cache misses). */
  get instrumentedCount(): number {
    return this.instrumented;
  }

  /** Modules remembered now. */
  get size(): number {
    return this.byOriginal.size;
  }

  /**
   * The instrumented form of `original` (instrumenting it on a miss: tens of ms per 100 KiB of
   * code). Rejects with FuelError NOT_WASM, ALREADY_NAMED or UNSUPPORTED (or what `instrument`
   * throws); failures are not remembered. Concurrent misses for one module instrument it once.
   */
  async get(original: Uint8Array): Promise<FuelModule> {
    const hex = sha256Hex(original);
    const known = this.byOriginal.get(hex) ?? this.outputs.get(hex);
    if (known) {
      this.touch(hex, known);
      return known;
    }
    let pending = this.inFlight.get(hex);
    if (!pending) {
      pending = this.miss(hex, original).finally(() => this.inFlight.delete(hex));
      this.inFlight.set(hex, pending);
    }
    return pending;
  }

  private async miss(hex: string, original: Uint8Array): Promise<FuelModule> {
    const bytes = await this.instrument(original);
    this.instrumented++;
    const entry: FuelModule = { hash: `sha256:${this.put(bytes)}`, bytes };
    this.remember(hex, entry);
    return entry;
  }

  private touch(originalHex: string, entry: FuelModule): void {
    if (this.byOriginal.delete(originalHex)) this.byOriginal.set(originalHex, entry);
  }

  private remember(originalHex: string, entry: FuelModule): void {
    this.byOriginal.set(originalHex, entry);
    this.outputs.set(entry.hash.slice('sha256:'.length), entry);
    this.bytesHeld += entry.bytes.byteLength;
    for (const [hex, old] of this.byOriginal) {
      if (this.byOriginal.size <= this.maxEntries && this.bytesHeld <= this.maxBytes) break;
      if (old === entry) break; // the newest stays even when alone over maxBytes
      this.byOriginal.delete(hex);
      this.bytesHeld -= old.bytes.byteLength;
      // Two originals can differ only in what instrumentation drops (names): keep a shared output.
      if (![...this.byOriginal.values()].some((e) => e.hash === old.hash)) {
        this.outputs.delete(old.hash.slice('sha256:'.length));
      }
    }
  }
}
