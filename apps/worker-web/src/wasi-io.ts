// WASI files on the job's regions, for @bjorn3/browser_wasi_shim: inputs are read where they lie
// (an arena view; the program's read copies into its own memory), outputs grow in regions the job
// allocates (arena blocks the main thread reads in place), and `fd_write` copies straight from
// the program's memory into them (the shim's own fd_write first slices a copy).
import { ConsoleStdout, Directory, File, type Inode, OpenFile, wasi } from '@bjorn3/browser_wasi_shim';
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import type { JobIo } from './job-io.ts';

/**
 * Text of bytes that may lie in shared memory: browsers' TextDecoder refuses a view of a
 * SharedArrayBuffer, so such bytes are decoded from a copy (small: messages, WGSL source).
 */
export function textOf(bytes: Uint8Array, decoder = new TextDecoder(), stream = false): string {
  const plain = bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  return decoder.decode(plain, { stream });
}

/** Output bytes the job may still write: one budget for stdout, stderr and every file under /out. */
export interface OutputBudget {
  left: number;
}

/** An output's first region; one that outgrows its region moves to one four times larger. */
const FIRST_REGION = 64 << 10;
const GROWTH = 4;

/**
 * Bytes that grow in regions of the job (arena blocks on the ring): when a write passes the
 * capacity, a region four times as large replaces it (a copy of what was written, counted: at most
 * a third of the final size in all). Every byte written is charged to the budget as it happens, so
 * a program cannot pile up output past it.
 */
export class RegionBuffer {
  private region: Uint8Array = new Uint8Array(0);
  length = 0;
  /** Whether the program wrote, grew or truncated it (a preloaded file stays unchanged until then). */
  changed = false;

  constructor(
    private readonly io: JobIo,
    private readonly budget: OutputBudget,
    private readonly what: string,
  ) {}

  /** The bytes written so far, where they lie. */
  view(): Uint8Array {
    return this.region.subarray(0, this.length);
  }

  /** Makes room for `size` bytes (charging growth without writing, as ftruncate does). */
  resize(size: number): void {
    this.changed = true;
    if (size > this.length) this.charge(size - this.length);
    this.reserve(size);
    if (size > this.length) this.region.fill(0, this.length, size);
    this.length = size;
  }

  /** Writes `bytes` at `at` (the one copy of the program's write), growing as needed. */
  write(bytes: Uint8Array, at = this.length): void {
    this.changed = true;
    this.charge(bytes.byteLength);
    this.reserve(at + bytes.byteLength);
    if (at > this.length) this.region.fill(0, this.length, at);
    this.region.set(bytes, at);
    this.length = Math.max(this.length, at + bytes.byteLength);
  }

  /**
   * Fills an empty buffer with a mounted file's bytes (the unpack limits, not the output budget,
   * bound them); the buffer stays unchanged.
   */
  preload(bytes: Uint8Array): void {
    // A block of just this size (not the 64 KiB an output starts with): a tree holds many small files.
    const region = this.io.allocate(bytes.byteLength);
    if (!region)
      throw new ExecutorError('ARENA_FULL', `no room for ${bytes.byteLength} bytes of ${this.what}`, true);
    this.region = region;
    region.set(bytes);
    countCopy('in:archive-to-tree', bytes.byteLength);
    this.length = bytes.byteLength;
  }

  private charge(bytes: number): void {
    if (bytes > this.budget.left) {
      throw new ExecutorError('OUTPUT_TOO_LARGE', `${this.what} passed the output limit`);
    }
    this.budget.left -= bytes;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.region.byteLength) return;
    const size = Math.max(capacity, this.region.byteLength * GROWTH, FIRST_REGION);
    let next = this.io.allocate(size);
    if (next) {
      if (this.length > 0) {
        next.set(this.region.subarray(0, this.length));
        countCopy('out:region-grow', this.length);
      }
      if (this.region.byteLength > 0) this.io.release(this.region);
    } else if (this.length > 0) {
      // No block that large beside the old one (a buddy arena fragments): set the bytes aside,
      // give the old block back, and try again in the space it leaves.
      const aside = this.region.slice(0, this.length);
      countCopy('out:region-grow-aside', this.length);
      this.io.release(this.region);
      this.region = new Uint8Array(0);
      next = this.io.allocate(size);
      if (next) next.set(aside);
    }
    if (!next) throw new ExecutorError('ARENA_FULL', `no room for ${size} bytes of ${this.what}`, true);
    this.region = next;
  }
}

/** Something `fd_write` can copy into straight from the program's memory. */
interface DirectWriter {
  /** Writes `bytes`; returns a WASI errno (0, or EBADF for a descriptor without the right). */
  writeFrom(bytes: Uint8Array): number;
}

/** stdout/stderr: a RegionBuffer; stderr lines may also report progress. */
export class OutputSink extends ConsoleStdout implements DirectWriter {
  readonly buffer: RegionBuffer;
  private readonly decoder = new TextDecoder();
  private partial = '';

  constructor(io: JobIo, budget: OutputBudget, what: string, onLine?: (line: string) => void) {
    super(() => undefined);
    this.buffer = new RegionBuffer(io, budget, what);
    this.onLine = onLine;
  }

  private readonly onLine: ((line: string) => void) | undefined;

  writeFrom(bytes: Uint8Array): number {
    this.buffer.write(bytes);
    if (!this.onLine) return wasi.ERRNO_SUCCESS;
    const lines = (this.partial + textOf(bytes, this.decoder, true)).split('\n');
    this.partial = (lines.pop() ?? '').slice(-256);
    for (const line of lines) this.onLine(line);
    return wasi.ERRNO_SUCCESS;
  }

  override fd_write(data: Uint8Array): { ret: number; nwritten: number } {
    this.writeFrom(data);
    return { ret: 0, nwritten: data.byteLength };
  }
}

/** A read-only file over bytes where they lie: reads hand out views, never copies. */
export class ViewFile extends File {
  constructor(private readonly bytes: Uint8Array) {
    // The shim's File copies what it is given; give it nothing and serve reads from the view.
    super(new ArrayBuffer(0), { readonly: true });
  }

  override get size(): bigint {
    return BigInt(this.bytes.byteLength);
  }

  override path_open(oflags: number, rightsBase: bigint, fdFlags: number) {
    const opened = super.path_open(oflags, rightsBase, fdFlags);
    if (opened.fd_obj) return { ret: opened.ret, fd_obj: new ViewOpenFile(this, this.bytes) };
    return opened;
  }

  /** An open descriptor (stdin). */
  open(): OpenFile {
    return new ViewOpenFile(this, this.bytes);
  }
}

class ViewOpenFile extends OpenFile {
  constructor(
    file: File,
    private readonly bytes: Uint8Array,
  ) {
    super(file);
  }

  override fd_read(size: number): { ret: number; data: Uint8Array } {
    const start = Number(this.file_pos);
    const data = this.bytes.subarray(start, Math.min(this.bytes.byteLength, start + size));
    this.file_pos += BigInt(data.byteLength);
    return { ret: 0, data };
  }

  override fd_pread(size: number, offset: bigint): { ret: number; data: Uint8Array } {
    const start = Number(offset);
    return { ret: 0, data: this.bytes.subarray(start, Math.min(this.bytes.byteLength, start + size)) };
  }

  override fd_seek(offset: bigint, whence: number): { ret: number; offset: bigint } {
    if (whence === wasi.WHENCE_END) {
      const at = BigInt(this.bytes.byteLength) + offset;
      if (at < 0n) return { ret: wasi.ERRNO_INVAL, offset: 0n };
      this.file_pos = at;
      return { ret: 0, offset: at };
    }
    return super.fd_seek(offset, whence);
  }

  override fd_write(): { ret: number; nwritten: number } {
    return { ret: wasi.ERRNO_BADF, nwritten: 0 };
  }
}

/** A writable file of /out whose bytes grow in the job's regions. */
export class RegionFile extends File {
  readonly buffer: RegionBuffer;
  /** Unpacked from a mounted archive: collected only once the program changes it. */
  fromArchive = false;

  constructor(io: JobIo, budget: OutputBudget, what: string) {
    super(new ArrayBuffer(0));
    this.buffer = new RegionBuffer(io, budget, what);
    const buffer = this.buffer;
    // The shim reads `data` for sizes and seeks, and truncates by assigning an empty array.
    Object.defineProperty(this, 'data', {
      get: () => buffer.view(),
      set: (value: Uint8Array) => {
        if (value.byteLength === 0) {
          buffer.length = 0;
          buffer.changed = true;
        }
      },
    });
  }

  override get size(): bigint {
    return BigInt(this.buffer.length);
  }

  override path_open(oflags: number, rightsBase: bigint, fdFlags: number) {
    const opened = super.path_open(oflags, rightsBase, fdFlags);
    if (!opened.fd_obj) return opened;
    return { ret: opened.ret, fd_obj: new RegionOpenFile(this, rightsBase, fdFlags) };
  }
}

const READ = BigInt(wasi.RIGHTS_FD_READ);
const WRITE = BigInt(wasi.RIGHTS_FD_WRITE);

/**
 * A descriptor on a region file, holding the rights it was opened with (a read without
 * `fd_read`, a write without `fd_write`, fails EBADF as on a file opened O_WRONLY or O_RDONLY) and
 * its flags: with `append` every write goes to the end and leaves the offset there; `pwrite`
 * writes where it is told and leaves the offset alone (POSIX; Linux would append).
 */
class RegionOpenFile extends OpenFile implements DirectWriter {
  constructor(
    private readonly region: RegionFile,
    private rights: bigint,
    private flags: number,
  ) {
    super(region);
    if (flags & wasi.FDFLAGS_APPEND) this.file_pos = BigInt(region.buffer.length);
  }

  writeFrom(bytes: Uint8Array): number {
    if ((this.rights & WRITE) === 0n) return wasi.ERRNO_BADF;
    if (this.flags & wasi.FDFLAGS_APPEND) this.file_pos = BigInt(this.region.buffer.length);
    this.region.buffer.write(bytes, Number(this.file_pos));
    this.file_pos += BigInt(bytes.byteLength);
    return wasi.ERRNO_SUCCESS;
  }

  override fd_write(data: Uint8Array): { ret: number; nwritten: number } {
    const ret = this.writeFrom(data);
    return { ret, nwritten: ret === wasi.ERRNO_SUCCESS ? data.byteLength : 0 };
  }

  override fd_pwrite(data: Uint8Array, offset: bigint): { ret: number; nwritten: number } {
    if ((this.rights & WRITE) === 0n) return { ret: wasi.ERRNO_BADF, nwritten: 0 };
    this.region.buffer.write(data, Number(offset));
    return { ret: 0, nwritten: data.byteLength };
  }

  override fd_read(size: number): { ret: number; data: Uint8Array } {
    if ((this.rights & READ) === 0n) return { ret: wasi.ERRNO_BADF, data: new Uint8Array(0) };
    return super.fd_read(size);
  }

  override fd_pread(size: number, offset: bigint): { ret: number; data: Uint8Array } {
    if ((this.rights & READ) === 0n) return { ret: wasi.ERRNO_BADF, data: new Uint8Array(0) };
    return super.fd_pread(size, offset);
  }

  override fd_fdstat_get(): { ret: number; fdstat: wasi.Fdstat } {
    const fdstat = new wasi.Fdstat(wasi.FILETYPE_REGULAR_FILE, this.flags);
    fdstat.fs_rights_base = this.rights;
    return { ret: 0, fdstat };
  }

  override fd_fdstat_set_flags(flags: number): number {
    this.flags = flags;
    return wasi.ERRNO_SUCCESS;
  }

  /** Rights only shrink: asking for one the descriptor lacks is ENOTCAPABLE. */
  override fd_fdstat_set_rights(base: bigint, _inheriting: bigint): number {
    if ((base & ~this.rights) !== 0n) return wasi.ERRNO_NOTCAPABLE;
    this.rights = base;
    return wasi.ERRNO_SUCCESS;
  }

  override fd_filestat_set_size(size: bigint): number {
    this.region.buffer.resize(Number(size));
    return wasi.ERRNO_SUCCESS;
  }

  override fd_allocate(offset: bigint, length: bigint): number {
    const to = Number(offset + length);
    if (to > this.region.buffer.length) this.region.buffer.resize(to);
    return wasi.ERRNO_SUCCESS;
  }
}

/**
 * A writable directory tree (/out, a mount): files created in it, at any depth (the preopen
 * creates every path from its root), grow in the job's regions. `base` is its guest path.
 */
export class RegionDirectory extends Directory {
  constructor(
    readonly io: JobIo,
    readonly budget: OutputBudget,
    readonly base = '/out',
  ) {
    super(new Map());
  }

  override create_entry_for_path(path: string, isDir: boolean) {
    const made = super.create_entry_for_path(path, isDir);
    if (!made.entry) return made;
    // The shim made a plain File or Directory: put ours where it put it. A subdirectory is ours
    // too, so files created through a descriptor opened on it (openat) are region files as well.
    const guest = `${this.base === '/' ? '' : this.base}/${path}`;
    const ours = isDir
      ? new RegionDirectory(this.io, this.budget, guest)
      : new RegionFile(this.io, this.budget, guest);
    return replaceEntry(this, made.entry, ours) ? { ret: made.ret, entry: ours } : made;
  }
}

/** Replaces inode `old` by `next` wherever it is in the tree under `dir`. */
function replaceEntry(dir: Directory, old: Inode, next: Inode): boolean {
  for (const [name, entry] of dir.contents) {
    if (entry === old) {
      dir.contents.set(name, next);
      return true;
    }
    if (entry instanceof Directory && replaceEntry(entry, old, next)) return true;
  }
  return false;
}

/**
 * Replaces the shim's `fd_write` with one that copies each iovec from the program's memory
 * straight into our writers (the shim slices a copy first), and leaves the rest to the shim.
 */
export function writeDirect(
  wasiImport: Record<string, (...args: never[]) => unknown>,
  fds: unknown[],
  memory: () => WebAssembly.Memory,
): void {
  const shimWrite = wasiImport['fd_write'] as (fd: number, iovs: number, n: number, out: number) => number;
  wasiImport['fd_write'] = ((fd: number, iovs: number, n: number, nwrittenPtr: number): number => {
    const target = fds[fd] as Partial<DirectWriter> | undefined;
    if (typeof target?.writeFrom !== 'function') return shimWrite(fd, iovs, n, nwrittenPtr);
    const buffer = memory().buffer;
    const view = new DataView(buffer);
    const bytes = new Uint8Array(buffer);
    let written = 0;
    for (let i = 0; i < n; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      const ret = target.writeFrom(bytes.subarray(ptr, ptr + len));
      if (ret !== wasi.ERRNO_SUCCESS) return ret;
      written += len;
    }
    view.setUint32(nwrittenPtr, written, true);
    return wasi.ERRNO_SUCCESS;
  }) as never;
}
