// Runs `module.kind = "wasm"` jobs: the WASI preview1 command ABI (through
// @bjorn3/browser_wasi_shim) and Flock's kernel ABI. Both are documented in ../README.md.
// Checks happen in this order, and each stops the job before anything later runs:
// input size -> hash (hash-wasm) -> imports -> memory ceiling -> compile -> instantiate -> run.
import {
  ConsoleStdout,
  Directory,
  type Fd,
  File,
  type Inode,
  OpenFile,
  PreopenDirectory,
  WASI,
  wasi as wasiDefs,
} from '@bjorn3/browser_wasi_shim';
import { ExecutorError } from './executor-error.ts';
import type { JobOutput, JobProgress, JobSuccess, WasmJob } from './job.ts';
import { kernelOutputCapacity } from './kernel-arena.ts';
import { sha256Ref, verifyModuleHash } from './module-hash.ts';
import { capMemory, inspectWasm, type WasmModuleInfo } from './wasm-binary.ts';

const PAGE = 65_536;
/** A trap this close to the page ceiling (32 pages, 2 MiB) is reported as MEMORY_LIMIT. */
const MEMORY_SLACK_PAGES = 32;
const WASI_MODULE = 'wasi_snapshot_preview1';
/** The WASI functions the shim implements: the only imports a WASI command may have. */
const WASI_FUNCTIONS: ReadonlySet<string> = new Set(
  Object.keys(new WASI([], [], [], { debug: false }).wasiImport),
);

/** Compiled modules by verified hash and page ceiling, kept for the life of one executor Worker. */
export type CompiledModuleCache = Map<string, WebAssembly.Module>;

/** Runs one WASM job to completion or throws an ExecutorError. */
export async function runWasmJob(
  job: WasmJob,
  cache: CompiledModuleCache = new Map(),
  onProgress?: (progress: JobProgress) => void,
): Promise<JobSuccess> {
  const inputBytes = job.inputs.reduce((sum, input) => sum + input.bytes.byteLength, 0);
  if (inputBytes > job.limits.maxInputBytes) {
    throw new ExecutorError(
      'INPUT_TOO_LARGE',
      `inputs are ${inputBytes} bytes, the limit is ${job.limits.maxInputBytes}`,
    );
  }
  const hash = job.moduleHash
    ? await verifyModuleHash(job.module, job.moduleHash)
    : await sha256Ref(job.module);
  const info = inspectWasm(job.module);
  checkImports(info, job.abi);

  const started = performance.now();
  const key = `${hash}|${job.limits.memoryPages}`;
  let module = cache.get(key);
  const cached = module !== undefined;
  if (!module) {
    // The engine enforces the ceiling: memory.grow returns -1 once the capped maximum is reached.
    const capped = capMemory(job.module, job.limits.memoryPages);
    try {
      module = await WebAssembly.compile(capped as Uint8Array<ArrayBuffer>);
    } catch (error) {
      throw new ExecutorError('EXECUTION_ERROR', `module does not compile: ${(error as Error).message}`);
    }
    cache.set(key, module);
  }
  const compileMs = performance.now() - started;
  const result =
    job.abi === 'wasi' ? await runWasi(job, module, onProgress) : await runKernel(job, module, info);
  const runMs = performance.now() - started - compileMs;
  result.metrics = {
    ...result.metrics,
    compile_ms: compileMs.toFixed(2),
    run_ms: runMs.toFixed(2),
    module_cached: String(cached),
  };
  result.summary = { ...result.summary, module_hash: hash };
  return result;
}

function checkImports(info: WasmModuleInfo, abi: WasmJob['abi']): void {
  for (const imp of info.imports) {
    const allowed =
      abi === 'wasi'
        ? imp.module === WASI_MODULE && imp.kind === 'function' && WASI_FUNCTIONS.has(imp.name)
        : imp.module === 'env' && imp.name === 'memory' && imp.kind === 'memory';
    if (!allowed) {
      throw new ExecutorError(
        'FORBIDDEN_IMPORT',
        `import ${imp.module}.${imp.name} (${imp.kind}) is not part of the ${abi} ABI`,
      );
    }
  }
}

/** A write-only sink that fails the job as soon as it would pass the output limit. */
function cappedSink(
  name: string,
  budget: { left: number },
  onLine?: (line: string) => void,
): { fd: ConsoleStdout; bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const decoder = new TextDecoder();
  let partial = '';
  const fd = new ConsoleStdout((data) => {
    if (data.byteLength > budget.left) {
      throw new ExecutorError('OUTPUT_TOO_LARGE', `${name} passed the output limit`);
    }
    budget.left -= data.byteLength;
    chunks.push(data.slice());
    length += data.byteLength;
    if (onLine) {
      const lines = (partial + decoder.decode(data, { stream: true })).split('\n');
      partial = (lines.pop() ?? '').slice(-256);
      for (const line of lines) onLine(line);
    }
  });
  const bytes = () => {
    const out = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  };
  return { fd, bytes };
}

/**
 * /out: a normal writable directory whose files count every byte written against the job's output
 * budget as it is written, so a program cannot pile up file data in the Worker past the limit.
 */
class BudgetedPreopen extends PreopenDirectory {
  constructor(
    name: string,
    private readonly budget: { left: number },
  ) {
    super(name, new Map());
  }

  override path_open(
    dirflags: number,
    path: string,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdFlags: number,
  ) {
    const opened = super.path_open(dirflags, path, oflags, rightsBase, rightsInheriting, fdFlags);
    const fd = opened.fd_obj;
    if (fd instanceof OpenFile) {
      const budget = this.budget;
      const charge = (bytes: number) => {
        if (bytes > budget.left)
          throw new ExecutorError('OUTPUT_TOO_LARGE', `/out/${path} passed the output limit`);
        budget.left -= bytes;
      };
      const write = fd.fd_write.bind(fd);
      const pwrite = fd.fd_pwrite.bind(fd);
      fd.fd_write = (data: Uint8Array) => {
        charge(data.byteLength);
        return write(data);
      };
      fd.fd_pwrite = (data: Uint8Array, offset: bigint) => {
        charge(data.byteLength);
        return pwrite(data, offset);
      };
      // Growing a file without writing (ftruncate, posix_fallocate) is charged too.
      const setSize = fd.fd_filestat_set_size.bind(fd);
      const allocate = fd.fd_allocate.bind(fd);
      const grow = (to: bigint) => {
        if (to > fd.file.size) charge(Number(to - fd.file.size));
      };
      fd.fd_filestat_set_size = (size: bigint) => {
        grow(size);
        return setSize(size);
      };
      fd.fd_allocate = (offset: bigint, length: bigint) => {
        grow(offset + length);
        return allocate(offset, length);
      };
    }
    return opened;
  }
}

/** /in: files can be opened for reading only; nothing can be created, renamed or removed. */
class ReadOnlyPreopen extends PreopenDirectory {
  override path_open(
    dirflags: number,
    path: string,
    oflags: number,
    rightsBase: bigint,
    rightsInheriting: bigint,
    fdFlags: number,
  ) {
    const writes = BigInt(wasiDefs.RIGHTS_FD_WRITE);
    if ((oflags & (wasiDefs.OFLAGS_CREAT | wasiDefs.OFLAGS_TRUNC)) !== 0 || (rightsBase & writes) !== 0n) {
      return { ret: wasiDefs.ERRNO_ROFS, fd_obj: null };
    }
    return super.path_open(dirflags, path, oflags, rightsBase, rightsInheriting, fdFlags);
  }
  override path_create_directory(): number {
    return wasiDefs.ERRNO_ROFS;
  }
  override path_unlink_file(): number {
    return wasiDefs.ERRNO_ROFS;
  }
  override path_remove_directory(): number {
    return wasiDefs.ERRNO_ROFS;
  }
  override path_link(): number {
    return wasiDefs.ERRNO_ROFS;
  }
  override path_unlink() {
    return { ret: wasiDefs.ERRNO_ROFS, inode_obj: null };
  }
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new ExecutorError('EXECUTION_ERROR', `params.${field} must be a list of strings`, false);
  }
  return value as string[];
}

function envList(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ExecutorError('EXECUTION_ERROR', 'params.env must be an object of strings', false);
  }
  return Object.entries(value).map(([k, v]) => {
    if (typeof v !== 'string' || k.includes('=')) {
      throw new ExecutorError('EXECUTION_ERROR', `params.env.${k} must be a string`, false);
    }
    return `${k}=${v}`;
  });
}

function collectFiles(dir: Directory, prefix: string, out: JobOutput[]): void {
  for (const [name, inode] of [...dir.contents.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (inode instanceof Directory) collectFiles(inode, `${prefix}${name}/`, out);
    else if (inode instanceof File) {
      out.push({ name: `${prefix}${name}`, contentType: 'application/octet-stream', bytes: inode.data });
    }
  }
}

function memoryPages(memory: WebAssembly.Memory | undefined): number {
  return memory ? memory.buffer.byteLength / PAGE : 0;
}

/** Classifies a trap or a failed exit: near the page ceiling it is MEMORY_LIMIT. */
function failure(job: WasmJob, memory: WebAssembly.Memory | undefined, what: string): ExecutorError {
  const pages = memoryPages(memory);
  if (pages >= job.limits.memoryPages - MEMORY_SLACK_PAGES) {
    return new ExecutorError(
      'MEMORY_LIMIT',
      `${what} with memory at ${pages} of ${job.limits.memoryPages} pages`,
      false,
    );
  }
  return new ExecutorError('EXECUTION_ERROR', what, false);
}

async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
): Promise<WebAssembly.Instance> {
  try {
    return await WebAssembly.instantiate(module, imports);
  } catch (error) {
    if (error instanceof WebAssembly.LinkError) {
      throw new ExecutorError('FORBIDDEN_IMPORT', `module does not link: ${error.message}`);
    }
    if (error instanceof RangeError) throw new ExecutorError('MEMORY_LIMIT', error.message, false);
    throw error;
  }
}

/** A stderr line `flock:progress <pct> [key=value ...]` reports progress (pct 0..100). */
const PROGRESS_LINE = /^flock:progress (\d+(?:\.\d+)?)((?: [\w.-]+=\S*)*)$/;

/** Parses a progress line of a WASI program, or returns undefined. */
export function parseProgressLine(line: string): JobProgress | undefined {
  const match = PROGRESS_LINE.exec(line.trimEnd());
  if (!match) return undefined;
  const metrics: Record<string, string> = {};
  for (const pair of (match[2] ?? '').trim().split(' ').filter(Boolean)) {
    const at = pair.indexOf('=');
    metrics[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { pct: Math.min(100, Number(match[1])), metrics };
}

async function runWasi(
  job: WasmJob,
  module: WebAssembly.Module,
  onProgress?: (progress: JobProgress) => void,
): Promise<JobSuccess> {
  if (job.params['wasi_net'] === true)
    throw new ExecutorError('UNSUPPORTED', 'WASI sockets are not available');
  const budget = { left: job.limits.maxOutputBytes };
  const stdout = cappedSink('stdout', budget);
  const stderr = cappedSink('stderr', budget, (line) => {
    const progress = parseProgressLine(line);
    // The call posts a message at once, even while this thread runs the program synchronously.
    if (progress) onProgress?.(progress);
  });
  const stdin = new File(job.inputs[0]?.bytes ?? new Uint8Array(0), { readonly: true });
  const fds: Fd[] = [new OpenFile(stdin), stdout.fd, stderr.fd];
  const outDir = new BudgetedPreopen('/out', budget);
  if (job.wasiFs) {
    const inFiles = new Map<string, Inode>(
      job.inputs.map((input) => [input.name, new File(input.bytes, { readonly: true })]),
    );
    fds.push(new ReadOnlyPreopen('/in', inFiles), outDir);
  }
  const args = [job.taskId || 'main', ...stringList(job.params['args'], 'args')];
  const shim = new WASI(args, envList(job.params['env']), fds, { debug: false });
  const instance = await instantiate(module, { [WASI_MODULE]: shim.wasiImport });
  const exports = instance.exports as { memory?: WebAssembly.Memory; _start?: () => unknown };
  if (!(exports.memory instanceof WebAssembly.Memory) || typeof exports._start !== 'function') {
    throw new ExecutorError('EXECUTION_ERROR', 'a WASI command must export memory and _start', false);
  }
  let exitCode: number;
  try {
    exitCode = shim.start({ exports: exports as { memory: WebAssembly.Memory; _start: () => unknown } });
  } catch (error) {
    if (error instanceof ExecutorError) throw error;
    if (error instanceof RangeError) throw new ExecutorError('MEMORY_LIMIT', error.message, false);
    throw failure(job, exports.memory, `trap: ${(error as Error).message ?? String(error)}`);
  }
  const stderrText = new TextDecoder().decode(stderr.bytes()).slice(-400);
  if (exitCode !== 0) {
    throw failure(
      job,
      exports.memory,
      `exit status ${exitCode}${stderrText ? `: ${stderrText.trim()}` : ''}`,
    );
  }
  const outputs: JobOutput[] = [{ name: 'stdout', contentType: 'text/plain', bytes: stdout.bytes() }];
  collectFiles(outDir.dir, 'out/', outputs);
  const total = outputs.reduce((sum, output) => sum + output.bytes.byteLength, 0);
  if (total > job.limits.maxOutputBytes) {
    throw new ExecutorError(
      'OUTPUT_TOO_LARGE',
      `outputs are ${total} bytes, the limit is ${job.limits.maxOutputBytes}`,
    );
  }
  return {
    ok: true,
    outputs,
    executor: 'wasm-wasi',
    summary: { exit_code: '0', ...(stderrText ? { stderr: stderrText } : {}) },
    metrics: { memory_pages: String(memoryPages(exports.memory)) },
  };
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

async function runKernel(
  job: WasmJob,
  module: WebAssembly.Module,
  info: WasmModuleInfo,
): Promise<JobSuccess> {
  const limit = job.limits.memoryPages;
  const imported = info.imports.find((imp) => imp.kind === 'memory')?.memory;
  const arena = job.arena;
  let memory: WebAssembly.Memory | undefined = arena?.memory;
  if (imported && !memory) {
    if (imported.initial > limit) {
      throw new ExecutorError(
        'MEMORY_LIMIT',
        `module needs ${imported.initial} initial pages, the limit is ${limit}`,
      );
    }
    if (imported.shared && typeof SharedArrayBuffer !== 'function') {
      throw new ExecutorError(
        'UNSUPPORTED',
        'the kernel imports shared memory; this tab is not cross-origin isolated',
      );
    }
    const maximum = Math.min(limit, imported.maximum ?? limit);
    memory = new WebAssembly.Memory({ initial: imported.initial, maximum, shared: imported.shared });
  }
  const instance = await instantiate(module, memory && imported ? { env: { memory } } : {});
  const exports = instance.exports as Record<string, unknown>;
  memory ??= exports['memory'] as WebAssembly.Memory | undefined;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new ExecutorError('EXECUTION_ERROR', 'a kernel must import env.memory or export memory', false);
  }
  const entry = exports[job.entry];
  if (typeof entry !== 'function') {
    throw new ExecutorError('EXECUTION_ERROR', `the module exports no function "${job.entry}"`, false);
  }
  let inPtr: number;
  let inLength: number;
  let outPtr: number;
  let outCap: number;
  if (arena) {
    // In place: the main thread already put the input in the arena; nothing is copied here.
    ({ inAddress: inPtr, inLength, outAddress: outPtr, outCapacity: outCap } = arena);
  } else {
    const input = job.inputs[0]?.bytes ?? new Uint8Array(0);
    outCap = kernelOutputCapacity(job);
    const heapBase = exports['__heap_base'];
    const base = heapBase instanceof WebAssembly.Global ? Number(heapBase.value) : memory.buffer.byteLength;
    inPtr = align16(base);
    inLength = input.byteLength;
    outPtr = align16(inPtr + inLength);
    const needed = Math.ceil((outPtr + outCap) / PAGE);
    const have = memoryPages(memory);
    if (needed > limit) {
      throw new ExecutorError('MEMORY_LIMIT', `regions need ${needed} pages, the limit is ${limit}`, false);
    }
    if (needed > have) memory.grow(needed - have);
    new Uint8Array(memory.buffer, inPtr, inLength).set(input);
  }
  let written: number;
  const kernelStarted = performance.now();
  try {
    written = Number(
      (entry as (a: number, b: number, c: number, d: number) => number)(inPtr, inLength, outPtr, outCap),
    );
  } catch (error) {
    throw failure(job, memory, `trap: ${(error as Error).message ?? String(error)}`);
  }
  const kernelMs = performance.now() - kernelStarted;
  if (written < 0) throw new ExecutorError('EXECUTION_ERROR', `kernel returned error ${written}`, false);
  if (written > outCap) {
    throw new ExecutorError('OUTPUT_TOO_LARGE', `kernel wrote ${written} bytes into a ${outCap}-byte region`);
  }
  const name = typeof job.params['output_name'] === 'string' ? job.params['output_name'] : 'out';
  // In place, the output stays in the arena for the main thread to read; otherwise it is copied out.
  const bytes = arena ? new Uint8Array(0) : new Uint8Array(memory.buffer, outPtr, written).slice();
  return {
    ok: true,
    outputs: [{ name, contentType: 'application/octet-stream', bytes }],
    executor: arena ? 'wasm-kernel-arena' : 'wasm-kernel',
    summary: { output_bytes: String(written) },
    metrics: { memory_pages: String(memoryPages(memory)), kernel_ms: kernelMs.toFixed(3) },
  };
}
