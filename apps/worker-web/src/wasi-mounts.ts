// The file system of a WASI job with `permissions.wasi_fs`: `/in` (read-only inputs), `/out`
// (empty, writable), and `params.mounts` (tar inputs unpacked into writable trees at guest paths,
// `/` included); and the outputs a run leaves under `params.collect` (default `["/out"]`), named by
// their guest path without the leading slash (`out/sub/x.txt`). Documented in ../README.md.
import { Directory, type Fd, type Inode, wasi as wasiDefs } from '@bjorn3/browser_wasi_shim';
import {
  checkWasiParams,
  ProtocolError,
  isUnderGuestPath as under,
  type WasiFsParams,
} from '@flock/protocol';
import { ExecutorError } from './executor-error.ts';
import type { Job } from './job.ts';
import type { JobIo } from './job-io.ts';
import { type UnpackBudget, unpackTree } from './tar-tree.ts';
import { type OutputBudget, type OutputSink, RegionDirectory, RegionFile, ViewFile } from './wasi-io.ts';
import { TreePreopen } from './wasi-tree.ts';

/** /in: files can be opened for reading only; nothing can be created, renamed or removed. */
class ReadOnlyPreopen extends TreePreopen {
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
  override path_symlink(): number {
    return wasiDefs.ERRNO_ROFS;
  }
}

/** A writable tree preopened at a guest path: `/out` or a mount. */
export interface GuestTree {
  path: string;
  dir: RegionDirectory;
}

/** The preopens of a job (after stdin, stdout, stderr) and what `collect` will read back. */
export interface WasiFileSystem {
  preopens: Fd[];
  trees: GuestTree[];
  collect: string[];
}

/**
 * The file-system params of a job (`params.mounts`, `collect`, `mount_max_*`), checked by the
 * same function the coordinator runs at submit; a bad one fails `INVALID_PARAMS` naming its field.
 */
export function wasiParams(job: Job): WasiFsParams {
  try {
    return checkWasiParams(
      job.spec.params,
      job.inputs.map((input) => input.name),
      job.spec.wasiFs === true,
    );
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    const field = error.field ?? 'params';
    throw new ExecutorError('INVALID_PARAMS', error.message, false, field);
  }
}

/** Builds `/in`, `/out` and the mounts of a job with `permissions.wasi_fs`. */
export async function wasiFileSystem(job: Job, io: JobIo, budget: OutputBudget): Promise<WasiFileSystem> {
  const { mounts, collect, maxBytes, maxEntries } = wasiParams(job);
  const left: UnpackBudget = { bytes: maxBytes, entries: maxEntries };
  const inFiles = new Map<string, Inode>(job.inputs.map((input) => [input.name, new ViewFile(input.bytes)]));
  const trees: GuestTree[] = [{ path: '/out', dir: new RegionDirectory(io, budget, '/out') }];
  for (const { path, input } of mounts) {
    const { name, bytes } = job.inputs[input]!;
    trees.push({
      path,
      dir: await unpackTree({ name, bytes, field: `inputs[${input}]` }, path, io, budget, left),
    });
  }
  const preopens: Fd[] = [new ReadOnlyPreopen('/in', new Directory(inFiles))];
  for (const tree of trees) preopens.push(new TreePreopen(tree.path, tree.dir));
  return { preopens, trees, collect };
}

type Output = { name: string; contentType: string; bytes: Uint8Array };

/**
 * Every output a WASI run made: stdout, then the files under each collected path that the program
 * created or changed (a mounted file it left alone does not come back), named by guest path.
 */
export function collectOutputs(stdout: OutputSink, fs: WasiFileSystem | undefined): Output[] {
  const outputs: Output[] = [{ name: 'stdout', contentType: 'text/plain', bytes: stdout.buffer.view() }];
  const seen = new Set<string>(['stdout']);
  const walk = (inode: Inode, guest: string): void => {
    if (inode instanceof RegionFile) {
      const name = guest.slice(1);
      if ((inode.fromArchive && !inode.buffer.changed) || seen.has(name)) return;
      seen.add(name);
      outputs.push({ name, contentType: 'application/octet-stream', bytes: inode.buffer.view() });
      return;
    }
    if (!(inode instanceof RegionDirectory)) return;
    for (const [name, child] of [...inode.contents.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      walk(child, `${guest === '/' ? '' : guest}/${name}`);
    }
  };
  for (const path of fs?.collect ?? []) {
    for (const tree of fs?.trees ?? []) {
      if (under(tree.path, path)) walk(tree.dir, tree.path);
      else if (under(path, tree.path)) {
        const rest = path.slice(tree.path === '/' ? 1 : tree.path.length + 1).split('/');
        const found = rest.reduce<Inode | undefined>(
          (at, part) => (at instanceof RegionDirectory ? at.contents.get(part) : undefined),
          tree.dir,
        );
        if (found) walk(found, path);
      }
    }
  }
  return outputs;
}
