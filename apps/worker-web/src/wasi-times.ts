// File times under the tab's WASI: the shim keeps none (every time reads 0, and
// `fd_filestat_set_times`/`path_filestat_set_times` answer ENOTSUP) and writes a filestat's three
// times at offsets 38, 46 and 52 where wasi_snapshot_preview1 puts them at 40, 48 and 56. Here each
// inode's access and modification times live in a table for the job, kept by inode number, set
// by those two calls, and every filestat is written with the layout of the spec.
import { wasi } from '@bjorn3/browser_wasi_shim';

type Imports = Record<string, (...args: never[]) => unknown>;

/** An inode's times, ns since the epoch. */
interface Times {
  atim: bigint;
  mtim: bigint;
  ctim: bigint;
}

/** Flags that set a time and "now" for the same stamp: EINVAL, as utimensat(2) answers. */
const BOTH_ATIM = wasi.FSTFLAGS_ATIM | wasi.FSTFLAGS_ATIM_NOW;
const BOTH_MTIM = wasi.FSTFLAGS_MTIM | wasi.FSTFLAGS_MTIM_NOW;

/** Whether `fstFlags` asks for a time and "now" for the same stamp. */
export function conflictingTimes(fstFlags: number): boolean {
  return (fstFlags & BOTH_ATIM) === BOTH_ATIM || (fstFlags & BOTH_MTIM) === BOTH_MTIM;
}

/** The times of one job's inodes; one never set reads the job's start (when its tree was made). */
export class InodeTimes {
  private readonly times = new Map<bigint, Times>();

  constructor(
    private readonly start: bigint,
    private readonly now: () => bigint = () => BigInt(Date.now()) * 1_000_000n,
  ) {}

  of(ino: bigint): Times {
    return this.times.get(ino) ?? { atim: this.start, mtim: this.start, ctim: this.start };
  }

  /** Sets the times `fstFlags` names; returns EINVAL for contradicting flags, leaving them unchanged. */
  set(ino: bigint, atim: bigint, mtim: bigint, fstFlags: number): number {
    if (conflictingTimes(fstFlags)) return wasi.ERRNO_INVAL;
    const times = { ...this.of(ino) };
    const now = this.now();
    if (fstFlags & wasi.FSTFLAGS_ATIM) times.atim = atim;
    if (fstFlags & wasi.FSTFLAGS_ATIM_NOW) times.atim = now;
    if (fstFlags & wasi.FSTFLAGS_MTIM) times.mtim = mtim;
    if (fstFlags & wasi.FSTFLAGS_MTIM_NOW) times.mtim = now;
    times.ctim = now;
    this.times.set(ino, times);
    return wasi.ERRNO_SUCCESS;
  }
}

/** Writes `stat` at `ptr` with the times of `times` (filestat: 64 bytes, times at 40, 48, 56). */
export function writeFilestat(view: DataView, ptr: number, stat: wasi.Filestat, times: InodeTimes): void {
  const { atim, mtim, ctim } = times.of(stat.ino);
  new Uint8Array(view.buffer, ptr, 64).fill(0);
  view.setBigUint64(ptr, stat.dev, true);
  view.setBigUint64(ptr + 8, stat.ino, true);
  view.setUint8(ptr + 16, stat.filetype);
  view.setBigUint64(ptr + 24, stat.nlink, true);
  view.setBigUint64(ptr + 32, stat.size, true);
  view.setBigUint64(ptr + 40, atim, true);
  view.setBigUint64(ptr + 48, mtim, true);
  view.setBigUint64(ptr + 56, ctim, true);
}

/** What the filestat calls need of a descriptor (the shim's Fd). */
interface StatFd {
  fd_filestat_get(): { ret: number; filestat: wasi.Filestat | null };
  path_filestat_get(flags: number, path: string): { ret: number; filestat: wasi.Filestat | null };
}

/** Replaces the four filestat time calls in `imports` with ones on `times`. */
export function timedFilestats(
  imports: Imports,
  fds: unknown[],
  memory: () => WebAssembly.Memory,
  times: InodeTimes,
): void {
  const path = (ptr: number, len: number) =>
    new TextDecoder().decode(new Uint8Array(memory().buffer).slice(ptr, ptr + len));
  const fdOf = (fd: number) => fds[fd] as StatFd | undefined;
  const answer = (found: { ret: number; filestat: wasi.Filestat | null }, ptr: number): number => {
    if (found.filestat !== null) writeFilestat(new DataView(memory().buffer), ptr, found.filestat, times);
    return found.ret;
  };
  imports['fd_filestat_get'] = ((fd: number, ptr: number) => {
    const at = fdOf(fd);
    return at === undefined ? wasi.ERRNO_BADF : answer(at.fd_filestat_get(), ptr);
  }) as never;
  imports['path_filestat_get'] = ((
    fd: number,
    flags: number,
    pathPtr: number,
    pathLen: number,
    ptr: number,
  ) => {
    const at = fdOf(fd);
    return at === undefined
      ? wasi.ERRNO_BADF
      : answer(at.path_filestat_get(flags, path(pathPtr, pathLen)), ptr);
  }) as never;
  const setOn = (
    found: { ret: number; filestat: wasi.Filestat | null },
    atim: bigint,
    mtim: bigint,
    flags: number,
  ) => (found.filestat === null ? found.ret : times.set(found.filestat.ino, atim, mtim, flags));
  imports['fd_filestat_set_times'] = ((fd: number, atim: bigint, mtim: bigint, flags: number) => {
    const at = fdOf(fd);
    if (at === undefined) return wasi.ERRNO_BADF;
    return conflictingTimes(flags) ? wasi.ERRNO_INVAL : setOn(at.fd_filestat_get(), atim, mtim, flags);
  }) as never;
  imports['path_filestat_set_times'] = ((
    fd: number,
    lookup: number,
    pathPtr: number,
    pathLen: number,
    atim: bigint,
    mtim: bigint,
    flags: number,
  ) => {
    const at = fdOf(fd);
    if (at === undefined) return wasi.ERRNO_BADF;
    if (conflictingTimes(flags)) return wasi.ERRNO_INVAL;
    return setOn(at.path_filestat_get(lookup, path(pathPtr, pathLen)), atim, mtim, flags);
  }) as never;
}
