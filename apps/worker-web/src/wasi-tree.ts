// Path calls on the tab's in-memory trees (/out, mounts), replacing the shim's: symbolic links
// that live in the tree (created, read, followed on request, never out of the descriptor's
// directory), POSIX trailing-slash rules, hard links that refuse what link(2) refuses, and
// directories that report the rights wasi-libc expects of them. The shim's own walk knows no
// symlinks and lets a trailing slash or an existing name through where POSIX says no.
import { Directory, type Fd, Inode, OpenDirectory, wasi } from '@bjorn3/browser_wasi_shim';

/** A symbolic link in an in-memory tree: only its target text; it is resolved when followed. */
export class SymlinkInode extends Inode {
  constructor(readonly target: string) {
    super();
  }

  path_open(): { ret: number; fd_obj: Fd | null } {
    // Reached only when the last component is not followed (O_NOFOLLOW): POSIX says ELOOP.
    return { ret: wasi.ERRNO_LOOP, fd_obj: null };
  }

  stat(): wasi.Filestat {
    const size = BigInt(new TextEncoder().encode(this.target).byteLength);
    return new wasi.Filestat(this.ino, wasi.FILETYPE_SYMBOLIC_LINK, size);
  }
}

/** Every right (up to sock_accept, bit 29): what a directory's descriptors may pass to what is opened in it. */
export const DIRECTORY_INHERITING = (1n << 30n) - 1n;

/**
 * The rights of a directory descriptor itself: all but those of file contents and sockets (as
 * uvwasi and wasmtime report, and wasi-testsuite's path_open_preopen expects); opening a
 * directory with `fd_write` fails EISDIR, as open(2) of a directory for writing does.
 */
export const DIRECTORY_BASE =
  DIRECTORY_INHERITING &
  ~BigInt(
    wasi.RIGHTS_FD_DATASYNC |
      wasi.RIGHTS_FD_READ |
      wasi.RIGHTS_FD_SEEK |
      wasi.RIGHTS_FD_TELL |
      wasi.RIGHTS_FD_WRITE |
      wasi.RIGHTS_FD_ALLOCATE |
      wasi.RIGHTS_FD_FILESTAT_SET_SIZE |
      wasi.RIGHTS_SOCK_SHUTDOWN |
      (1 << 29),
  );

/** How many symbolic links one path may pass through before it fails ELOOP (Linux's 40). */
const MAX_SYMLINKS = 40;

/** Where a path leads: the directory holding its last component, that name, and what is there. */
export interface Resolved {
  ret: number;
  /** The directory the last component is looked up in (null on error). */
  parent: Directory | null;
  /** The last component; null when the path names a directory by `.`/`..` or is empty. */
  name: string | null;
  /** What the path names, or undefined when nothing is there yet. */
  entry: Inode | undefined;
  /** The path ended with a slash: it must name a directory. */
  trailingSlash: boolean;
}

const failed = (ret: number): Resolved => ({
  ret,
  parent: null,
  name: null,
  entry: undefined,
  trailingSlash: false,
});

/**
 * Walks `path` from `start`, following symbolic links on the way and, when `followLast` (or a
 * trailing slash), at the end. Absolute paths, and `..` or a link that climbs above `start`,
 * fail ENOTCAPABLE: nothing outside the descriptor's directory is reachable.
 */
export function resolvePath(start: Directory, path: string, followLast: boolean): Resolved {
  if (path.includes('\0')) return failed(wasi.ERRNO_INVAL);
  if (path === '') return failed(wasi.ERRNO_NOENT);
  if (path.startsWith('/')) return failed(wasi.ERRNO_NOTCAPABLE);
  const trailingSlash = path.endsWith('/');
  const pending = path.split('/').filter((part) => part !== '');
  const stack: Directory[] = [start];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    const dir = stack.at(-1)!;
    const last = pending.length === 0;
    if (part === '.' || part === '..') {
      if (part === '..' && (stack.length === 1 || stack.pop() === undefined)) {
        return failed(wasi.ERRNO_NOTCAPABLE);
      }
      if (last) return { ret: 0, parent: null, name: null, entry: stack.at(-1), trailingSlash };
      continue;
    }
    const entry = dir.contents.get(part);
    if (entry instanceof SymlinkInode && (!last || followLast || trailingSlash)) {
      if (++links > MAX_SYMLINKS) return failed(wasi.ERRNO_LOOP);
      if (entry.target.startsWith('/')) return failed(wasi.ERRNO_NOTCAPABLE);
      pending.unshift(...entry.target.split('/').filter((p) => p !== ''));
      if (pending.length === 0) return { ret: 0, parent: null, name: null, entry: dir, trailingSlash };
      continue;
    }
    if (last) {
      if (trailingSlash && entry !== undefined && !(entry instanceof Directory)) {
        return failed(wasi.ERRNO_NOTDIR);
      }
      return { ret: 0, parent: dir, name: part, entry, trailingSlash };
    }
    if (entry === undefined) return failed(wasi.ERRNO_NOENT);
    if (!(entry instanceof Directory)) return failed(wasi.ERRNO_NOTDIR);
    stack.push(entry);
  }
  return { ret: 0, parent: null, name: null, entry: stack.at(-1), trailingSlash };
}

const isDir = (inode: Inode | undefined): inode is Directory => inode instanceof Directory;
/** lookupflags: follow a symbolic link in the last component (the shim's definitions lack it). */
const LOOKUP_FOLLOW = 1;

/**
 * A directory descriptor on an in-memory tree, with the path calls of this module. It reports
 * every right as inheriting (wasi-libc derives a file's rights from them).
 */
export class TreeDirectory extends OpenDirectory {
  /** The descriptor's rights; they only shrink (fd_fdstat_set_rights). */
  private base = DIRECTORY_BASE;
  private inheriting = DIRECTORY_INHERITING;

  override fd_fdstat_get(): { ret: number; fdstat: wasi.Fdstat } {
    const fdstat = new wasi.Fdstat(wasi.FILETYPE_DIRECTORY, 0);
    fdstat.fs_rights_base = this.base;
    fdstat.fs_rights_inherited = this.inheriting;
    return { ret: 0, fdstat };
  }

  /** Rights only shrink: asking for one the descriptor lacks is ENOTCAPABLE. */
  override fd_fdstat_set_rights(base: bigint, inheriting: bigint): number {
    if ((base & ~this.base) !== 0n || (inheriting & ~this.inheriting) !== 0n) return wasi.ERRNO_NOTCAPABLE;
    this.base = base;
    this.inheriting = inheriting;
    return wasi.ERRNO_SUCCESS;
  }

  override path_open(
    dirflags: number,
    path: string,
    oflags: number,
    rightsBase: bigint,
    _rightsInheriting: bigint,
    fdFlags: number,
  ): { ret: number; fd_obj: Fd | null } {
    // O_TRUNC through a directory needs its path_filestat_set_size right (the one rights check on paths).
    const truncates = (oflags & wasi.OFLAGS_TRUNC) !== 0;
    if (truncates && (this.base & BigInt(wasi.RIGHTS_PATH_FILESTAT_SET_SIZE)) === 0n) {
      return { ret: wasi.ERRNO_NOTCAPABLE, fd_obj: null };
    }
    const at = resolvePath(this.dir, path, (dirflags & LOOKUP_FOLLOW) !== 0);
    if (at.ret !== 0) return { ret: at.ret, fd_obj: null };
    let entry = at.entry;
    if (entry === undefined) {
      if ((oflags & wasi.OFLAGS_CREAT) === 0) return { ret: wasi.ERRNO_NOENT, fd_obj: null };
      // open("name/", O_CREAT) cannot make a file of a name that must be a directory.
      if (at.trailingSlash || (oflags & wasi.OFLAGS_DIRECTORY) !== 0)
        return { ret: wasi.ERRNO_ISDIR, fd_obj: null };
      const made = at.parent!.create_entry_for_path(at.name!, false);
      if (made.entry === null) return { ret: made.ret, fd_obj: null };
      entry = made.entry;
    } else if ((oflags & wasi.OFLAGS_EXCL) !== 0 && (oflags & wasi.OFLAGS_CREAT) !== 0) {
      return { ret: wasi.ERRNO_EXIST, fd_obj: null };
    }
    if (isDir(entry)) {
      if ((rightsBase & BigInt(wasi.RIGHTS_FD_WRITE)) !== 0n || (oflags & wasi.OFLAGS_TRUNC) !== 0) {
        return { ret: wasi.ERRNO_ISDIR, fd_obj: null };
      }
      return { ret: 0, fd_obj: new TreeDirectory(entry) };
    }
    if ((oflags & wasi.OFLAGS_DIRECTORY) !== 0) {
      return { ret: entry instanceof SymlinkInode ? wasi.ERRNO_LOOP : wasi.ERRNO_NOTDIR, fd_obj: null };
    }
    return entry.path_open(oflags, rightsBase, fdFlags);
  }

  override path_filestat_get(flags: number, path: string): { ret: number; filestat: wasi.Filestat | null } {
    const at = resolvePath(this.dir, path, (flags & LOOKUP_FOLLOW) !== 0);
    if (at.ret !== 0) return { ret: at.ret, filestat: null };
    if (at.entry === undefined) return { ret: wasi.ERRNO_NOENT, filestat: null };
    return { ret: 0, filestat: at.entry.stat() };
  }

  /** The source of a hard link: never followed (linkat without AT_SYMLINK_FOLLOW), so a flag asking to is EINVAL. */
  override path_lookup(path: string, dirflags: number): { ret: number; inode_obj: Inode | null } {
    if ((dirflags & LOOKUP_FOLLOW) !== 0) return { ret: wasi.ERRNO_INVAL, inode_obj: null };
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return { ret: at.ret, inode_obj: null };
    if (at.entry === undefined) return { ret: wasi.ERRNO_NOENT, inode_obj: null };
    return { ret: 0, inode_obj: at.entry };
  }

  /** A hard link (`allowDir` false) or the second half of a rename (`allowDir` true) to `inode`. */
  override path_link(path: string, inode: Inode, allowDir: boolean): number {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return at.ret;
    if (at.name === null) return allowDir ? wasi.ERRNO_BUSY : wasi.ERRNO_EXIST;
    const parent = at.parent!;
    const existing = at.entry;
    if (!allowDir) {
      if (at.trailingSlash) return existing === undefined ? wasi.ERRNO_NOENT : wasi.ERRNO_EXIST;
      if (existing !== undefined) return wasi.ERRNO_EXIST;
      if (isDir(inode)) return wasi.ERRNO_PERM;
      parent.contents.set(at.name, inode);
      return wasi.ERRNO_SUCCESS;
    }
    if (at.trailingSlash && !isDir(inode)) return wasi.ERRNO_NOTDIR;
    if (existing !== undefined && existing !== inode) {
      if (isDir(inode) && !isDir(existing)) return wasi.ERRNO_NOTDIR;
      if (!isDir(inode) && isDir(existing)) return wasi.ERRNO_ISDIR;
      if (isDir(existing) && existing.contents.size > 0) return wasi.ERRNO_NOTEMPTY;
    }
    if (isDir(inode) && contains(inode, parent)) return wasi.ERRNO_INVAL;
    parent.contents.set(at.name, inode);
    return wasi.ERRNO_SUCCESS;
  }

  /** The first half of a rename: takes `path` out of the tree (not followed) and returns it. */
  override path_unlink(path: string): { ret: number; inode_obj: Inode | null } {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return { ret: at.ret, inode_obj: null };
    if (at.name === null) return { ret: wasi.ERRNO_BUSY, inode_obj: null };
    if (at.entry === undefined) return { ret: wasi.ERRNO_NOENT, inode_obj: null };
    if (at.trailingSlash && !isDir(at.entry)) return { ret: wasi.ERRNO_NOTDIR, inode_obj: null };
    at.parent!.contents.delete(at.name);
    return { ret: 0, inode_obj: at.entry };
  }

  override path_unlink_file(path: string): number {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return at.ret;
    if (at.entry === undefined) return wasi.ERRNO_NOENT;
    if (at.name === null || isDir(at.entry)) return wasi.ERRNO_ISDIR;
    if (at.trailingSlash) return wasi.ERRNO_NOTDIR;
    at.parent!.contents.delete(at.name);
    return wasi.ERRNO_SUCCESS;
  }

  override path_remove_directory(path: string): number {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return at.ret;
    if (at.entry === undefined) return wasi.ERRNO_NOENT;
    if (!isDir(at.entry)) return wasi.ERRNO_NOTDIR;
    if (at.name === null) return at.entry === this.dir ? wasi.ERRNO_INVAL : wasi.ERRNO_NOTEMPTY;
    if (at.entry.contents.size > 0) return wasi.ERRNO_NOTEMPTY;
    at.parent!.contents.delete(at.name);
    return wasi.ERRNO_SUCCESS;
  }

  override path_create_directory(path: string): number {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return at.ret;
    if (at.name === null || at.entry !== undefined) return wasi.ERRNO_EXIST;
    return at.parent!.create_entry_for_path(at.name, true).ret;
  }

  /** Creates a symbolic link at `path` whose text is `target` (never followed out of the tree). */
  path_symlink(target: string, path: string): number {
    if (target === '' || target.includes('\0')) return target === '' ? wasi.ERRNO_NOENT : wasi.ERRNO_INVAL;
    if (target.startsWith('/')) return wasi.ERRNO_NOTCAPABLE;
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return at.ret;
    if (at.name === null || at.entry !== undefined) return wasi.ERRNO_EXIST;
    if (at.trailingSlash) return wasi.ERRNO_NOENT;
    at.parent!.contents.set(at.name, new SymlinkInode(target));
    return wasi.ERRNO_SUCCESS;
  }

  override path_readlink(path: string): { ret: number; data: string | null } {
    const at = resolvePath(this.dir, path, false);
    if (at.ret !== 0) return { ret: at.ret, data: null };
    if (at.entry === undefined) return { ret: wasi.ERRNO_NOENT, data: null };
    if (!(at.entry instanceof SymlinkInode)) return { ret: wasi.ERRNO_INVAL, data: null };
    return { ret: 0, data: at.entry.target };
  }
}

/** Whether `dir` is `inside` or one of its ancestors (a directory cannot move into itself). */
function contains(dir: Directory, inside: Directory): boolean {
  if (dir === inside) return true;
  for (const child of dir.contents.values()) if (isDir(child) && contains(child, inside)) return true;
  return false;
}

/** A tree preopened at a guest path. */
export class TreePreopen extends TreeDirectory {
  constructor(
    private readonly name: string,
    dir: Directory,
  ) {
    super(dir);
  }

  override fd_prestat_get(): { ret: number; prestat: wasi.Prestat } {
    return { ret: 0, prestat: wasi.Prestat.dir(this.name) };
  }
}
