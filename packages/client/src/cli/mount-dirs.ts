// `--mount <guest>=<local dir>` of `flock submit` and `flock map --wasm`: each local directory is
// packed into a tar archive (modern-tar, the reader the tab uses), added to the task's inputs
// (inline when small, else uploaded once as a blob) and named in `params.mounts`, where the tab
// unpacks it into a writable tree at the guest path (apps/worker-web/JOBS.md, "Mounts").
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import {
  type ComputeEnvelope,
  type DataRef,
  isGuestPath,
  isUnderGuestPath,
  type JsonObject,
  type ModuleSpec,
  WASI_MOUNT_LIMITS,
} from '@flock/protocol';
import { packTar, type TarEntry } from 'modern-tar';
import type { FlockClient } from '../flock-client.ts';
import { dataInput } from '../library-inputs.ts';
import { type MapInput, toDataRefs } from '../map-tasks.ts';
import { UsageError } from './exit-codes.ts';

/** The content type of a packed directory. */
export const TAR_CONTENT_TYPE = 'application/x-tar';

/** One `--mount`: the guest directory and the local directory packed for it. */
export interface MountArg {
  guest: string;
  dir: string;
}

/** Parses the `--mount` values: `<guest>=<local dir>`, the guest path absolute; usage errors otherwise. */
export function parseMountArgs(values: readonly string[] | undefined): MountArg[] {
  const mounts: MountArg[] = [];
  for (const value of values ?? []) {
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) {
      throw new UsageError(`--mount must be <guest dir>=<local dir>, got "${value}"`);
    }
    const guest = value.slice(0, eq);
    const dir = value.slice(eq + 1);
    if (!isGuestPath(guest)) {
      throw new UsageError(
        `--mount ${value}: the guest path must be absolute, without "." or ".." components or a trailing /`,
      );
    }
    if (guest !== '/' && (isUnderGuestPath(guest, '/in') || isUnderGuestPath(guest, '/out'))) {
      throw new UsageError(`--mount ${value}: a mount may not be /in, /out or under them`);
    }
    if (mounts.some((m) => m.guest === guest)) throw new UsageError(`--mount ${guest} is given twice`);
    mounts.push({ guest, dir });
  }
  return mounts;
}

/** The input name of the archive mounted at `guest`: `mount-root.tar` for `/`, `mount-a_b.tar` for `/a/b`. */
export function mountInputName(guest: string): string {
  return `mount-${guest === '/' ? 'root' : guest.slice(1).replaceAll('/', '_')}.tar`;
}

interface PackBudget {
  bytes: number;
  entries: number;
}

/**
 * Packs a local directory into a tar archive: its directories and regular files under their
 * relative names (`/` separated, sorted), modes and modification times kept. A symbolic link to a
 * file inside the directory is packed as that file's bytes; one that leads outside it, to a
 * directory or nowhere, and any other kind of file, is a usage error naming it.
 */
export async function packDirectory(
  dir: string,
  budget: PackBudget = { bytes: WASI_MOUNT_LIMITS.maxBytes, entries: WASI_MOUNT_LIMITS.maxEntries },
): Promise<Uint8Array> {
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await stat(root)).isDirectory()) throw new UsageError(`--mount: ${dir} is not a directory`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--mount: cannot read directory ${dir}: ${(error as NodeJS.ErrnoException).code}`);
  }
  const entries: TarEntry[] = [];
  const count = (bytes: number): void => {
    budget.entries -= 1;
    budget.bytes -= bytes;
    if (budget.entries < 0 || budget.bytes < 0) {
      throw new UsageError(
        `--mount: ${dir} is over the tab's limit of ${WASI_MOUNT_LIMITS.maxEntries} entries or ` +
          `${WASI_MOUNT_LIMITS.maxBytes} bytes (over all mounts)`,
      );
    }
  };
  const walk = async (at: string): Promise<void> => {
    const names = (await readdir(at)).sort();
    for (const name of names) {
      const path = join(at, name);
      const rel = relative(root, path).split(sep).join('/');
      let info = await lstat(path);
      let source = path;
      if (info.isSymbolicLink()) {
        source = await linkTarget(root, path, join(dir, rel));
        info = await stat(source);
      }
      const header = { name: rel, mode: info.mode & 0o777, mtime: info.mtime, size: 0 };
      if (info.isDirectory()) {
        count(0);
        entries.push({ header: { ...header, name: `${rel}/`, type: 'directory' } });
        await walk(path);
      } else if (info.isFile()) {
        const bytes = new Uint8Array(await readFile(source));
        count(bytes.byteLength);
        entries.push({ header: { ...header, size: bytes.byteLength, type: 'file' }, body: bytes });
      } else {
        throw new UsageError(`--mount: ${join(dir, rel)} is neither a regular file nor a directory`);
      }
    }
  };
  await walk(root);
  return packTar(entries);
}

/** Where a symbolic link leads: a regular file inside `root`, or a usage error naming `shown`. */
async function linkTarget(root: string, path: string, shown: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(path);
  } catch {
    throw new UsageError(`--mount: ${shown} is a symbolic link to nothing`);
  }
  if (target !== root && !target.startsWith(`${root}${sep}`)) {
    throw new UsageError(`--mount: ${shown} is a symbolic link out of the directory (to ${target})`);
  }
  if (!(await stat(target)).isFile()) {
    throw new UsageError(`--mount: ${shown} is a symbolic link to a directory (only files are followed)`);
  }
  return target;
}

/** The inputs the mounts add and the `params.mounts` that name them. */
export interface PackedMounts {
  inputs: DataRef[];
  mounts: Record<string, string>;
}

/**
 * Packs every `--mount` directory and makes it an input (uploaded once when large, so every task
 * of a `map` names the same blob); `taken` are the task's other input names, which a mount's may
 * not repeat.
 */
export async function packMounts(
  client: FlockClient,
  args: readonly MountArg[],
  taken: readonly string[],
): Promise<PackedMounts> {
  const budget = { bytes: WASI_MOUNT_LIMITS.maxBytes, entries: WASI_MOUNT_LIMITS.maxEntries };
  const packed: PackedMounts = { inputs: [], mounts: {} };
  for (const { guest, dir } of args) {
    const name = mountInputName(guest);
    if (taken.includes(name) || packed.inputs.some((i) => i.name === name)) {
      throw new UsageError(`--mount ${guest}: its archive's input name "${name}" is taken`);
    }
    const bytes = await packDirectory(dir, budget);
    packed.inputs.push(await dataInput(client, name, TAR_CONTENT_TYPE, bytes));
    packed.mounts[guest] = name;
  }
  return packed;
}

/** `params` with `mounts` merged in (a `--mount` wins over the same guest path in `--params`). */
export function withMounts(params: JsonObject | undefined, mounts: Record<string, string>): JsonObject {
  const given = params?.['mounts'];
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw new UsageError('--params: "mounts" must be an object of guest directory → input name');
  }
  return { ...params, mounts: { ...(given as JsonObject | undefined), ...mounts } };
}

/** The module with `permissions.wasi_fs` on, which mounts need. */
export function withWasiFs(module: ModuleSpec): ModuleSpec {
  return { ...module, permissions: { ...module.permissions, wasi_fs: true } };
}

/** `flock submit --mount ...`: the envelope with the packed directories as inputs and in `params.mounts`. */
export async function withMountArgs(
  client: FlockClient,
  values: { mount?: string[] },
  envelope: ComputeEnvelope,
): Promise<ComputeEnvelope> {
  const args = parseMountArgs(values.mount);
  if (args.length === 0) return envelope;
  const module = envelope.module;
  if (module?.kind !== 'wasm' || module.abi === 'kernel') {
    throw new UsageError('--mount needs a WASI module (module.kind "wasm", abi "wasi")');
  }
  const inputs = envelope.inputs ?? [];
  const packed = await packMounts(
    client,
    args,
    inputs.map((i) => i.name ?? ''),
  );
  return {
    ...envelope,
    module: withWasiFs(module),
    inputs: [...inputs, ...packed.inputs],
    params: withMounts(envelope.params, packed.mounts),
  };
}

/** What `flock map --wasm` submits for each file: the module, one task's inputs per file, the params. */
export interface MapTasksSpec {
  module: ModuleSpec;
  items: MapInput[];
  params: JsonObject | undefined;
}

/**
 * `flock map --wasm --mount ...`: each file becomes the input `inputName` (default `input`) beside
 * the packed directories, which every task shares; without mounts, the files as they are.
 */
export async function mapMounts(
  client: FlockClient,
  args: readonly MountArg[],
  spec: {
    module: ModuleSpec;
    files: Uint8Array[];
    params: JsonObject | undefined;
    inputName?: string | undefined;
  },
): Promise<MapTasksSpec> {
  const { module, files, params } = spec;
  if (args.length === 0) return { module, items: files, params };
  const inputName = spec.inputName ?? 'input';
  const packed = await packMounts(client, args, [inputName]);
  return {
    module: withWasiFs(module),
    items: files.map((bytes) => [...toDataRefs(bytes, { inputName }), ...packed.inputs]),
    params: withMounts(params, packed.mounts),
  };
}
