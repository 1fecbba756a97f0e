// Fuel on the coordinator's side (issue #14): every WASM module a task names is instrumented once
// with an instruction budget (fuel/), stored as a module blob, and the task's envelope is rewritten
// to name the instrumented module. Every tab then runs the same metered bytes, so `fuel_used` is the
// same wherever a task runs, and a tab never needs binaryen (~15 MB, ~300 ms to load).
import type { ComputeEnvelope, ModuleSpec } from '@flock/protocol';
import { blake3 } from 'hash-wasm';
import { CoordinatorError } from '../errors.ts';
// Types only from fuel/index.ts: its modules import binaryen, loaded on first use (loadFuel).
import { FuelError } from '../fuel/fuel-error.ts';
import type { FuelModule, FuelModules, FuelThread } from '../fuel/index.ts';
import { sha256Hex } from '../sha256.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Store } from '../store/store.ts';

/**
 * The owner instrumented modules are recorded under in the blobs table: not a tenant name (those
 * are `[A-Za-z0-9_.-]`), so a module that exports the fuel global is known to be the coordinator's
 * own output when this owner holds it, even after a restart.
 */
export const FUEL_OWNER = '@fuel';

/** What ModuleMeter needs. */
export interface ModuleMeterOptions {
  blobs: BlobStore;
  store: Store;
  /** Largest module fetched from an http(s) uri, bytes. */
  maxModuleBytes: number;
  /** Whether http(s) module uris are fetched (once per module hash); else they are refused. */
  remoteModules: boolean;
  /** Longest a remote module may take to arrive, ms. Default 30 s. */
  fetchTimeoutMs?: number;
}

const HASH = /^(sha256|blake3):([0-9a-f]{64})$/;
/** Remote modules remembered by verified hash (a campaign names one uri thousands of times). */
const REMOTE_MEMO = 256;

/** Instruments the WASM modules of submitted tasks and rewrites the tasks to name them. */
export class ModuleMeter {
  private fuel: Promise<{ modules: FuelModules; thread: FuelThread }> | undefined;
  /** Instrumented modules whose blob row is written (one write per module per process). */
  private readonly recorded = new Set<string>();
  private readonly remote = new Map<string, FuelModule>();

  constructor(private readonly options: ModuleMeterOptions) {}

  /**
   * Rewrites `envelope.module`, when it is a WASM module, to its instrumented form: inline bytes
   * are replaced, a uri becomes `flock:<hash>` of the stored instrumented module, and `hash` names
   * the instrumented bytes. `prefix` is prepended to error fields (`tasks[3].`). Throws
   * HASH_MISMATCH, MODULE_REFUSED (not metered: not WASM, already names the fuel global, an
   * instruction the meter cannot walk), MODULE_FETCH_FAILED or INVALID_ARGUMENT.
   */
  async meter(envelope: ComputeEnvelope, prefix = ''): Promise<void> {
    const module = envelope.module;
    if (!module || (module.kind ?? 'wasm') !== 'wasm') return;
    const metered = await this.meteredOf(module, prefix);
    if (module.inline && module.inline.byteLength > 0) module.inline = metered.bytes;
    else module.uri = `flock:${metered.hash}`;
    module.hash = metered.hash;
  }

  /** Instruments an uploaded module (POST /v1/modules), refusing at upload what could never run. */
  async meterUpload(bytes: Uint8Array): Promise<FuelModule> {
    return this.instrument(bytes, 'body');
  }

  /** Stops the instrumenting thread. */
  async close(): Promise<void> {
    const fuel = this.fuel;
    this.fuel = undefined;
    if (fuel) await (await fuel).thread.close();
  }

  private async meteredOf(module: ModuleSpec, prefix: string): Promise<FuelModule> {
    const field = `${prefix}module`;
    if (module.inline && module.inline.byteLength > 0) {
      if (module.hash) await verifyHash(module.inline, module.hash, `${field}.hash`);
      return this.instrument(module.inline, field);
    }
    const uri = module.uri ?? '';
    if (uri.startsWith('flock:')) {
      const name = uri.slice('flock:'.length);
      const bytes = this.options.blobs.read(name.slice('sha256:'.length));
      if (!bytes)
        throw new CoordinatorError('INVALID_ARGUMENT', `module ${uri} is not stored here`, `${field}.uri`);
      if (module.hash && module.hash !== name) await verifyHash(bytes, module.hash, `${field}.hash`);
      return this.instrument(bytes, field);
    }
    if (/^https?:/i.test(uri)) return this.fetched(uri, module.hash ?? '', field);
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      'a WASM module is inline, flock:sha256:<hex> (POST /v1/modules) or an http(s) uri with its hash',
      `${field}.uri`,
    );
  }

  private async fetched(uri: string, hash: string, field: string): Promise<FuelModule> {
    if (!this.options.remoteModules) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        'this coordinator does not fetch module uris (FLOCK_REMOTE_MODULES=off): upload it with POST /v1/modules',
        `${field}.uri`,
      );
    }
    const known = this.remote.get(hash);
    if (known) return known;
    const bytes = await fetchModule(
      uri,
      this.options.maxModuleBytes,
      this.options.fetchTimeoutMs ?? 30_000,
      field,
    );
    await verifyHash(bytes, hash, `${field}.hash`);
    const metered = await this.instrument(bytes, field);
    if (this.remote.size >= REMOTE_MEMO) this.remote.delete(this.remote.keys().next().value!);
    this.remote.set(hash, metered);
    return metered;
  }

  private async instrument(original: Uint8Array, field: string): Promise<FuelModule> {
    const { modules } = await this.loadFuel();
    let metered: FuelModule;
    try {
      metered = await modules.get(original);
    } catch (error) {
      if (!(error instanceof FuelError)) throw error;
      const hash = `sha256:${sha256Hex(original)}`;
      // The coordinator's own output, named again (e.g. copied from a task's envelope).
      if (error.code === 'ALREADY_NAMED' && (await this.options.store.blobVisible(hash, FUEL_OWNER)))
        return { hash, bytes: original };
      throw new CoordinatorError(
        'MODULE_REFUSED',
        `module cannot be metered with fuel (${error.code}): ${error.message}`,
        field,
      );
    }
    if (!this.recorded.has(metered.hash)) {
      await this.options.store.recordBlob(
        metered.hash,
        FUEL_OWNER,
        'module',
        metered.bytes.byteLength,
        Date.now(),
      );
      this.recorded.add(metered.hash);
    }
    return metered;
  }

  /**
   * binaryen is loaded on the first WASM module only, and on a thread of its own: these two
   * modules do not import it (fuel/index.ts does, through instrument.ts). Through the main
   * thread's tsx loader, binaryen's 12 MB took about 20 s to load (a fresh coordinator's first
   * submission of a module waited that long, and past FLOCK_IDLE_TIMEOUT_MS on a busy machine
   * its connection was closed unanswered); on the thread, about 1 s.
   */
  private loadFuel(): Promise<{ modules: FuelModules; thread: FuelThread }> {
    this.fuel ??= Promise.all([
      import('../fuel/fuel-modules.ts'),
      import('../fuel/fuel-thread-client.ts'),
    ]).then(([{ FuelModules }, { FuelThread }]) => {
      const thread = new FuelThread();
      const modules = new FuelModules({
        put: (bytes) => this.options.blobs.put(bytes),
        instrument: (bytes) => thread.instrument(bytes),
      });
      return { modules, thread };
    });
    return this.fuel;
  }
}

/** Throws HASH_MISMATCH unless `bytes` hash to `expected` (sha256: or blake3:). */
async function verifyHash(bytes: Uint8Array, expected: string, field: string): Promise<void> {
  const match = HASH.exec(expected);
  if (!match)
    throw new CoordinatorError('INVALID_ARGUMENT', 'hash must be "sha256:<hex>" or "blake3:<hex>"', field);
  const actual = match[1] === 'sha256' ? sha256Hex(bytes) : await blake3(bytes);
  if (actual !== match[2]) {
    throw new CoordinatorError(
      'HASH_MISMATCH',
      `module ${match[1]} is ${actual}, expected ${match[2]}`,
      field,
    );
  }
}

/** GETs a module, at most `maxBytes`, within `timeoutMs`; throws MODULE_FETCH_FAILED. */
async function fetchModule(
  uri: string,
  maxBytes: number,
  timeoutMs: number,
  field: string,
): Promise<Uint8Array> {
  const failed = (why: string) =>
    new CoordinatorError('MODULE_FETCH_FAILED', `module ${uri} could not be fetched: ${why}`, `${field}.uri`);
  let response: Response;
  try {
    response = await fetch(uri, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (error) {
    throw failed(
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (error as Error).message,
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw failed(`HTTP ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw failed(`larger than ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof CoordinatorError) throw error;
    throw failed((error as Error).message);
  }
  return Buffer.concat(chunks);
}
