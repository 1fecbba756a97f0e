// Unpacks a tar archive (ustar, pax, GNU long names: modern-tar's reader) into a writable
// directory tree whose files live in the job's regions, for a WASI mount. Hostile archives are
// refused with a typed error naming the entry: absolute names, `..` components, links that leave
// the tree, devices and FIFOs, and archives past the entry or byte limits.
import type { Inode } from '@bjorn3/browser_wasi_shim';
import { type ParsedTarEntryWithData, unpackTar } from 'modern-tar';
import { countCopy } from './copy-meter.ts';
import { ExecutorError } from './executor-error.ts';
import type { JobIo } from './job-io.ts';
import { type OutputBudget, RegionDirectory, RegionFile } from './wasi-io.ts';

/** Where an archive comes from, for errors: its input's name and `inputs[i]`. */
export interface ArchiveSource {
  name: string;
  field: string;
  bytes: Uint8Array;
}

/** What is left of the limits (@flock/protocol WASI_MOUNT_LIMITS, or lower) while a job's mounts unpack. */
export interface UnpackBudget {
  bytes: number;
  entries: number;
}

/** Splits an entry's name into its components; refuses absolute names and `..`. */
export function entryPath(name: string, source: ArchiveSource): string[] {
  const refuse = (why: string) =>
    new ExecutorError('INVALID_INPUT', `${source.name}: entry "${name}" ${why}`, false, source.field);
  if (name.startsWith('/')) throw refuse('has an absolute name');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw refuse('leaves the tree (..)');
  return parts;
}

/**
 * Unpacks `source` into a new tree mounted at `base`. Files are region files charged to `budget`
 * when the program writes them; their unpacked bytes are charged to `left` instead.
 */
export async function unpackTree(
  source: ArchiveSource,
  base: string,
  io: JobIo,
  budget: OutputBudget,
  left: UnpackBudget,
): Promise<RegionDirectory> {
  const entries = await readArchive(source);
  const root = new RegionDirectory(io, budget, base);
  const links: Array<{ at: string[]; target: string[]; entry: string }> = [];
  for (const entry of entries) {
    const { name, type = 'file', size } = entry.header;
    const at = entryPath(name, source);
    if (at.length === 0) continue; // the archive's own root ("./")
    left.entries -= 1;
    if (left.entries < 0) throw tooLarge(source, 'entries');
    if (type === 'directory') {
      directoryAt(root, at, source, name, true);
    } else if (type === 'file') {
      left.bytes -= size;
      if (left.bytes < 0) throw tooLarge(source, 'bytes');
      const file = new RegionFile(io, budget, `${base === '/' ? '' : base}/${at.join('/')}`);
      file.fromArchive = true;
      if (entry.data && entry.data.byteLength > 0) file.buffer.preload(entry.data);
      directoryAt(root, at.slice(0, -1), source, name, true).contents.set(at.at(-1)!, file);
    } else if (type === 'symlink' || type === 'link') {
      // A symlink's target is relative to its directory, a hard link's to the archive's root.
      const from = type === 'symlink' ? at.slice(0, -1) : [];
      links.push({ at, target: linkTarget(from, entry.header.linkname ?? '', name, source), entry: name });
    } else {
      throw new ExecutorError(
        'INVALID_INPUT',
        `${source.name}: entry "${name}" is a ${type}; only files, directories and links unpack`,
        false,
        source.field,
      );
    }
  }
  for (const link of links) linkInTree(root, link, source);
  return root;
}

/** A link's target as components from the root; refuses one that leaves the tree. */
function linkTarget(from: string[], linkname: string, entry: string, source: ArchiveSource): string[] {
  const outside = () =>
    new ExecutorError(
      'INVALID_INPUT',
      `${source.name}: link "${entry}" points outside the tree (${linkname})`,
      false,
      source.field,
    );
  if (linkname.startsWith('/')) throw outside();
  const parts = [...from];
  for (const part of linkname.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.pop() === undefined) throw outside();
  }
  return parts;
}

/** A tar header's size: an archive that holds anything is at least one. */
const TAR_BLOCK = 512;

async function readArchive(source: ArchiveSource): Promise<ParsedTarEntryWithData[]> {
  // The reader decodes header text from views of what it is given, and browsers' TextDecoder
  // refuses views of shared memory: hand it a private copy of an arena view.
  let bytes = source.bytes;
  if (!(bytes.buffer instanceof ArrayBuffer)) {
    bytes = bytes.slice();
    countCopy('in:archive-unshare', bytes.byteLength);
  }
  try {
    // The reader takes what is shorter than one header block for an empty archive.
    if (bytes.byteLength > 0 && bytes.byteLength < TAR_BLOCK)
      throw new Error('shorter than one 512-byte header');
    return await unpackTar(bytes);
  } catch (error) {
    throw new ExecutorError(
      'INVALID_INPUT',
      `${source.name} is not a readable tar archive: ${(error as Error).message}`,
      false,
      source.field,
    );
  }
}

function tooLarge(source: ArchiveSource, what: 'bytes' | 'entries'): ExecutorError {
  const limit = what === 'bytes' ? 'unpacked bytes' : 'entries';
  return new ExecutorError(
    'INPUT_TOO_LARGE',
    `${source.name}: the mounts pass their limit of ${limit}`,
    false,
    source.field,
  );
}

/** The directory at `parts` under `root`, made on the way when `make`. */
function directoryAt(
  root: RegionDirectory,
  parts: string[],
  source: ArchiveSource,
  entry: string,
  make: boolean,
): RegionDirectory {
  let dir = root;
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    let next = dir.contents.get(name);
    if (next === undefined && make) {
      const guest = `${root.base === '/' ? '' : root.base}/${parts.slice(0, i + 1).join('/')}`;
      const made = new RegionDirectory(root.io, root.budget, guest);
      dir.contents.set(name, made);
      next = made;
    }
    if (!(next instanceof RegionDirectory)) {
      throw new ExecutorError(
        'INVALID_INPUT',
        `${source.name}: entry "${entry}" needs ${parts.slice(0, i + 1).join('/')} to be a directory`,
        false,
        source.field,
      );
    }
    dir = next;
  }
  return dir;
}

/**
 * The shim holds no symlinks: a link inside the tree becomes a second name of its target's file
 * (a hard link); a link to a directory, or to nothing, is refused.
 */
function linkInTree(
  root: RegionDirectory,
  link: { at: string[]; target: string[]; entry: string },
  source: ArchiveSource,
): void {
  let target: Inode | undefined = root;
  for (const part of link.target) {
    target = target instanceof RegionDirectory ? target.contents.get(part) : undefined;
  }
  if (!(target instanceof RegionFile)) {
    const what = target === undefined ? 'nothing in the tree' : 'a directory';
    throw new ExecutorError(
      'INVALID_INPUT',
      `${source.name}: link "${link.entry}" points to ${what}; only links to files unpack`,
      false,
      source.field,
    );
  }
  directoryAt(root, link.at.slice(0, -1), source, link.entry, true).contents.set(link.at.at(-1)!, target);
}
