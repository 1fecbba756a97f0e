// The tab's wasi_snapshot_preview1 imports: the shim's, with the calls it gets wrong for the tab
// replaced, and every call a safe point. Replaced: `poll_oneoff` (the shim takes one clock only,
// busy-loops a CPU while it waits, and never writes `nevents`) sleeps with Atomics.wait in slices
// that stay safe points, and reports file descriptors ready (files never block); the socket calls
// (the shim throws, which traps the program) return an errno the program can handle;
// `args_sizes_get` counts UTF-8 bytes (the shim counts UTF-16 units but writes UTF-8, so a
// non-ASCII argument overran the buffer libc sized from it); `sched_yield` tells a stopping program;
// `path_symlink` and `path_readlink` reach the trees (wasi-tree.ts); file times (wasi-times.ts).
import { wasi } from '@bjorn3/browser_wasi_shim';
import type { SafePoints } from './safe-points.ts';
import { writeDirect } from './wasi-io.ts';
import { InodeTimes, timedFilestats } from './wasi-times.ts';

type Imports = Record<string, (...args: never[]) => unknown>;

/** Subscription and event sizes and fields (wasi_snapshot_preview1, wasm32). */
const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;
/** A sleep is cut into slices this long (ms), each ending at a safe point. */
const SLEEP_SLICE_MS = 25;

interface Ready {
  userdata: bigint;
  error: number;
  type: number;
  nbytes: bigint;
}

/** Where `performance.now()` will be when a clock subscription fires, or undefined for an unknown clock. */
function clockDeadline(view: DataView, at: number, now: number): number | undefined {
  const id = view.getUint32(at + 16, true);
  const timeoutMs = Number(view.getBigUint64(at + 24, true)) / 1e6;
  const absolute = (view.getUint16(at + 40, true) & wasi.SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
  if (id === wasi.CLOCKID_MONOTONIC) return absolute ? timeoutMs : now + timeoutMs;
  if (id === wasi.CLOCKID_REALTIME) return absolute ? now + (timeoutMs - Date.now()) : now + timeoutMs;
  return undefined;
}

/** Bytes left to read on an open file (stdin, a file), or 0 where that is not known. */
function readable(fd: unknown): bigint {
  const open = fd as { file?: { size?: bigint }; file_pos?: bigint } | undefined;
  const size = open?.file?.size;
  if (typeof size !== 'bigint' || typeof open?.file_pos !== 'bigint') return 0n;
  return size > open.file_pos ? size - open.file_pos : 0n;
}

/** Sleeps until `deadline` (performance.now()) without burning a CPU; wakes early when the job is stopping. */
export function sleepUntil(deadline: number, safe: SafePoints): void {
  const cell =
    typeof SharedArrayBuffer === 'undefined' ? undefined : new Int32Array(new SharedArrayBuffer(4));
  for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
    safe.check();
    if (safe.reason) return;
    const slice = Math.min(left, SLEEP_SLICE_MS);
    // Nobody notifies this cell: the wait is a sleep. Without shared memory, the old busy wait.
    if (cell) Atomics.wait(cell, 0, 0, slice);
    else for (const until = performance.now() + slice; performance.now() < until; );
  }
}

/** WASI errno ECANCELED: what sched_yield returns to a stopping program. */
const ECANCELED = 11;

/**
 * Makes the shim's imports the tab's, in place: `fds` is the shim's live descriptor table, `args`
 * the argument list it was given, `memory` the program's memory once instantiated.
 */
export function tabImports(
  imports: Imports,
  fds: unknown[],
  args: readonly string[],
  memory: () => WebAssembly.Memory,
  safe: SafePoints,
): void {
  writeDirect(imports, fds, memory);
  replacePollAndSockets(imports, fds, memory, safe);
  replacePathCalls(imports, fds, memory);
  timedFilestats(imports, fds, memory, new InodeTimes(BigInt(Date.now()) * 1_000_000n));
  const encoder = new TextEncoder();
  const argBytes = args.reduce((sum, arg) => sum + encoder.encode(arg).byteLength + 1, 0);
  imports['args_sizes_get'] = ((countPtr: number, bytesPtr: number): number => {
    const view = new DataView(memory().buffer);
    view.setUint32(countPtr, args.length, true);
    view.setUint32(bytesPtr, argBytes, true);
    return wasi.ERRNO_SUCCESS;
  }) as never;
  for (const [name, call] of Object.entries(imports)) {
    // Every WASI call is a safe point.
    imports[name] = ((...callArgs: never[]) => {
      safe.check();
      return call(...callArgs);
    }) as never;
  }
  // A stopping program learns it here: ECANCELED, while its other calls still work.
  imports['sched_yield'] = (() => {
    safe.check();
    return safe.reason ? ECANCELED : 0;
  }) as never;
}

/** Replaces `poll_oneoff` and the socket calls in `imports`. */
function replacePollAndSockets(
  imports: Imports,
  fds: unknown[],
  memory: () => WebAssembly.Memory,
  safe: SafePoints,
): void {
  imports['poll_oneoff'] = ((inPtr: number, outPtr: number, count: number, neventsPtr: number): number => {
    if (count === 0) return wasi.ERRNO_INVAL;
    let view = new DataView(memory().buffer);
    const now = performance.now();
    const ready: Ready[] = [];
    const clocks: Array<{ userdata: bigint; deadline: number }> = [];
    for (let i = 0; i < count; i++) {
      const at = inPtr + i * SUBSCRIPTION_BYTES;
      const userdata = view.getBigUint64(at, true);
      const type = view.getUint8(at + 8);
      if (type === wasi.EVENTTYPE_CLOCK) {
        const deadline = clockDeadline(view, at, now);
        if (deadline === undefined) return wasi.ERRNO_INVAL;
        clocks.push({ userdata, deadline });
        continue;
      }
      const fd = fds[view.getUint32(at + 16, true)];
      const error = fd === undefined ? wasi.ERRNO_BADF : wasi.ERRNO_SUCCESS;
      const nbytes = type === wasi.EVENTTYPE_FD_READ ? readable(fd) : 0n;
      ready.push({ userdata, error, type, nbytes });
    }
    // Descriptors never block here; only a poll on clocks alone sleeps.
    if (ready.length === 0 && clocks.length > 0) sleepUntil(Math.min(...clocks.map((c) => c.deadline)), safe);
    const woke = performance.now();
    for (const clock of clocks) {
      if (clock.deadline <= woke || (ready.length === 0 && safe.reason)) {
        ready.push({ userdata: clock.userdata, error: 0, type: wasi.EVENTTYPE_CLOCK, nbytes: 0n });
      }
    }
    view = new DataView(memory().buffer);
    ready.forEach((event, i) => {
      const at = outPtr + i * EVENT_BYTES;
      new Uint8Array(view.buffer, at, EVENT_BYTES).fill(0);
      view.setBigUint64(at, event.userdata, true);
      view.setUint16(at + 8, event.error, true);
      view.setUint8(at + 10, event.type);
      view.setBigUint64(at + 16, event.nbytes, true);
    });
    view.setUint32(neventsPtr, ready.length, true);
    return wasi.ERRNO_SUCCESS;
  }) as never;
  // No descriptor is a socket: an open one answers ENOTSOCK (as POSIX and wasi-testsuite's
  // sock_shutdown-not_sock expect), anything else EBADF.
  const noSockets = ((fd: number) => (fds[fd] === undefined ? wasi.ERRNO_BADF : wasi.ERRNO_NOTSOCK)) as never;
  for (const name of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown']) imports[name] = noSockets;
}

/**
 * `path_symlink` reaches the tree's descriptors (the shim answers ENOTSUP without asking them);
 * `path_readlink` into a buffer shorter than the link's text fills it (readlink(2)'s truncation;
 * the shim answers EBADF).
 */
function replacePathCalls(imports: Imports, fds: unknown[], memory: () => WebAssembly.Memory): void {
  const text = (ptr: number, len: number) =>
    new TextDecoder().decode(new Uint8Array(memory().buffer).slice(ptr, ptr + len));
  imports['path_readlink'] = ((
    fd: number,
    pathPtr: number,
    pathLen: number,
    buf: number,
    bufLen: number,
    nread: number,
  ) => {
    const dir = fds[fd] as { path_readlink(path: string): { ret: number; data: string | null } } | undefined;
    if (dir === undefined) return wasi.ERRNO_BADF;
    const { ret, data } = dir.path_readlink(text(pathPtr, pathLen));
    if (data === null) return ret;
    const bytes = new TextEncoder().encode(data).subarray(0, bufLen);
    new Uint8Array(memory().buffer).set(bytes, buf);
    new DataView(memory().buffer).setUint32(nread, bytes.byteLength, true);
    return wasi.ERRNO_SUCCESS;
  }) as never;
  imports['path_symlink'] = ((oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number) => {
    const dir = fds[fd] as { path_symlink?: (target: string, path: string) => number } | undefined;
    if (dir === undefined) return wasi.ERRNO_BADF;
    if (typeof dir.path_symlink !== 'function') return wasi.ERRNO_NOTDIR;
    return dir.path_symlink(text(oldPtr, oldLen), text(newPtr, newLen));
  }) as never;
}
