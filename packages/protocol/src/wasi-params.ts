// The file-system params of a WASI task (`module.kind = "wasm"`, abi `wasi`): `params.mounts`,
// `params.collect`, `params.mount_max_bytes` and `params.mount_max_entries`. One check, from params
// and input names alone, run by the coordinator at submit and by the tab before it unpacks anything
// (apps/worker-web/JOBS.md, "Mounts"); the CLI checks its `--mount` guest paths with `isGuestPath`.
import type { JsonObject } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';

/** The most a job's mounts may unpack, over all of them: file bytes, and entries (files, directories, links). */
export const WASI_MOUNT_LIMITS = { maxBytes: 64 << 20, maxEntries: 10_000 } as const;

/** What the file-system params of a WASI task ask for, once checked. */
export interface WasiFsParams {
  /** Guest directory → the index of the input (a tar archive) unpacked there, in params order. */
  mounts: Array<{ path: string; input: number }>;
  /** Guest paths whose files come back; default `["/out"]`. */
  collect: string[];
  /** Unpack limits: `mount_max_bytes` / `mount_max_entries`, or WASI_MOUNT_LIMITS. */
  maxBytes: number;
  maxEntries: number;
}

const GUEST_PATH = /^\/$|^(\/[^/\0]+)+$/;

/** An absolute guest path without empty, `.` or `..` components and without a trailing slash. */
export function isGuestPath(value: unknown): value is string {
  return typeof value === 'string' && GUEST_PATH.test(value) && !/\/\.\.?(\/|$)/.test(value);
}

/** `path` is `dir` or lies under it (everything lies under `/`). */
export function isUnderGuestPath(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

function invalid(field: string, why: string): ProtocolError {
  return new ProtocolError('INVALID_PARAMS', `${field} ${why}`, field);
}

function guestPath(value: unknown, field: string): string {
  if (!isGuestPath(value)) throw invalid(field, 'must be an absolute path without "." or ".." components');
  return value;
}

function parseMounts(value: unknown, inputNames: readonly string[], wasiFs: boolean) {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('params.mounts', 'must be an object of guest directory → input name');
  }
  if (!wasiFs) throw invalid('params.mounts', 'needs permissions.wasi_fs');
  return Object.entries(value).map(([path, name]) => {
    const field = `params.mounts[${JSON.stringify(path)}]`;
    guestPath(path, field);
    if (path !== '/' && (isUnderGuestPath(path, '/in') || isUnderGuestPath(path, '/out'))) {
      throw invalid(field, 'may not be /in, /out or under them');
    }
    const input = inputNames.indexOf(name as string);
    if (typeof name !== 'string' || input < 0)
      throw invalid(field, `names no input (${JSON.stringify(name)})`);
    return { path, input };
  });
}

function parseCollect(value: unknown, wasiFs: boolean): string[] {
  if (value === undefined) return ['/out'];
  if (!Array.isArray(value)) throw invalid('params.collect', 'must be a list of guest paths');
  if (!wasiFs) throw invalid('params.collect', 'needs permissions.wasi_fs');
  return value.map((path, i) => guestPath(path, `params.collect[${i}]`));
}

function limit(params: JsonObject, key: string, ceiling: number): number {
  const value = params[key];
  if (value === undefined) return ceiling;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > ceiling) {
    throw invalid(`params.${key}`, `must be an integer from 0 to ${ceiling}`);
  }
  return value;
}

/**
 * Checks the file-system params of a WASI task against its input names and `permissions.wasi_fs`;
 * throws the first problem as `ProtocolError('INVALID_PARAMS')` whose `field` names it
 * (`params.mounts["/a/../b"]`, `params.collect[0]`, `params.mount_max_bytes`).
 */
export function checkWasiParams(
  params: JsonObject | undefined,
  inputNames: readonly string[],
  wasiFs: boolean,
): WasiFsParams {
  const p = params ?? {};
  const mounts = parseMounts(p['mounts'], inputNames, wasiFs);
  const collect = parseCollect(p['collect'], wasiFs);
  const maxBytes = limit(p, 'mount_max_bytes', WASI_MOUNT_LIMITS.maxBytes);
  const maxEntries = limit(p, 'mount_max_entries', WASI_MOUNT_LIMITS.maxEntries);
  const trees = ['/out', ...mounts.map((m) => m.path)];
  collect.forEach((path, i) => {
    if (!trees.some((tree) => isUnderGuestPath(path, tree) || isUnderGuestPath(tree, path))) {
      throw invalid(`params.collect[${i}]`, 'is under no mount and not /out');
    }
  });
  return { mounts, collect, maxBytes, maxEntries };
}
