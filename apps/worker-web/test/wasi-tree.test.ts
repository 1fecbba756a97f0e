// The tab's path and descriptor calls on its in-memory trees (wasi-tree.ts, wasi-io.ts), called
// as the shim's imports call them: what wasi-testsuite's fd_flags_set, pwrite-with-append,
// path_open_read_write, path_open_preopen, path_link, symlink_create, path_exists,
// path_symlink_trailing_slashes, path_rename_dir_trailing_slashes, truncation_rights,
// fstflags_validate, fd_filestat_set, path_filestat and readlink expect,
// errno for errno.
import { type Fd, WASI, wasi } from '@bjorn3/browser_wasi_shim';
import { describe, expect, it } from 'vitest';
import { heapIo } from '../src/job-io.ts';
import { SafePoints } from '../src/safe-points.ts';
import { tabImports } from '../src/wasi-calls.ts';
import { RegionDirectory, type RegionFile } from '../src/wasi-io.ts';
import { conflictingTimes, InodeTimes, writeFilestat } from '../src/wasi-times.ts';
import {
  DIRECTORY_BASE,
  DIRECTORY_INHERITING,
  SymlinkInode,
  TreeDirectory,
  TreePreopen,
} from '../src/wasi-tree.ts';

const READ = BigInt(wasi.RIGHTS_FD_READ);
const WRITE = BigInt(wasi.RIGHTS_FD_WRITE);
const FOLLOW = 1;
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function tree(): { root: RegionDirectory; fd: TreePreopen } {
  const root = new RegionDirectory(heapIo(), { left: 1 << 20 }, '/');
  return { root, fd: new TreePreopen('/', root) };
}

/** Opens `path` under `dir` and returns the descriptor, failing the test on an errno. */
function open(dir: Fd, path: string, oflags: number, rights: bigint, fdFlags = 0, dirflags = 0): Fd {
  const opened = dir.path_open(dirflags, path, oflags, rights, 0n, fdFlags);
  expect(opened.ret).toBe(wasi.ERRNO_SUCCESS);
  return opened.fd_obj!;
}

const errnoOfOpen = (dir: Fd, path: string, oflags: number, rights = 0n, dirflags = 0) =>
  dir.path_open(dirflags, path, oflags, rights, 0n, 0).ret;

const contents = (root: RegionDirectory, name: string) =>
  text((root.contents.get(name) as RegionFile).buffer.view());

describe('file descriptors on a tree', () => {
  it('O_APPEND writes at the end every time; pwrite leaves the offset; clearing the flag overwrites', () => {
    const { root, fd } = tree();
    const file = open(fd, 'log', wasi.OFLAGS_CREAT, READ | WRITE, wasi.FDFLAGS_APPEND);
    expect(file.fd_write(bytes('ab'))).toEqual({ ret: 0, nwritten: 2 });
    expect(file.fd_seek(0n, wasi.WHENCE_SET).offset).toBe(0n);
    expect(file.fd_write(bytes('cd'))).toEqual({ ret: 0, nwritten: 2 });
    expect(file.fd_tell().offset).toBe(4n);
    expect(file.fd_pwrite(bytes('XYZ'), 0n)).toEqual({ ret: 0, nwritten: 3 });
    expect(file.fd_tell().offset).toBe(4n);
    expect(contents(root, 'log')).toBe('XYZd');
    expect(file.fd_fdstat_get().fdstat?.fs_flags).toBe(wasi.FDFLAGS_APPEND);

    expect(file.fd_fdstat_set_flags(0)).toBe(wasi.ERRNO_SUCCESS);
    expect(file.fd_fdstat_get().fdstat?.fs_flags).toBe(0);
    file.fd_seek(0n, wasi.WHENCE_SET);
    file.fd_write(bytes('12'));
    expect(contents(root, 'log')).toBe('12Zd');
  });

  it('keeps the rights it was opened with: EBADF for a read or write without them, rights only shrink', () => {
    const { fd } = tree();
    open(fd, 'f', wasi.OFLAGS_CREAT, WRITE).fd_write(bytes('hello'));
    const readOnly = open(fd, 'f', 0, READ);
    expect(readOnly.fd_fdstat_get().fdstat?.fs_rights_base).toBe(READ);
    expect(readOnly.fd_write(bytes('x'))).toEqual({ ret: wasi.ERRNO_BADF, nwritten: 0 });
    expect(readOnly.fd_pwrite(bytes('x'), 0n)).toEqual({ ret: wasi.ERRNO_BADF, nwritten: 0 });
    expect(text(readOnly.fd_read(10).data)).toBe('hello');

    const writeOnly = open(fd, 'f', 0, WRITE);
    expect(writeOnly.fd_fdstat_get().fdstat?.fs_rights_base).toBe(WRITE);
    expect(writeOnly.fd_read(10).ret).toBe(wasi.ERRNO_BADF);
    expect(writeOnly.fd_pread(10, 0n).ret).toBe(wasi.ERRNO_BADF);
    expect(writeOnly.fd_fdstat_set_rights(READ | WRITE, 0n)).toBe(wasi.ERRNO_NOTCAPABLE);
    expect(writeOnly.fd_fdstat_set_rights(0n, 0n)).toBe(wasi.ERRNO_SUCCESS);
    expect(writeOnly.fd_write(bytes('x')).ret).toBe(wasi.ERRNO_BADF);
  });

  it('a directory reports its rights, opens with its own or none, and refuses write rights or O_TRUNC with EISDIR', () => {
    const { fd } = tree();
    const stat = fd.fd_fdstat_get().fdstat!;
    expect([stat.fs_filetype, stat.fs_rights_base, stat.fs_rights_inherited]).toEqual([
      wasi.FILETYPE_DIRECTORY,
      DIRECTORY_BASE,
      DIRECTORY_INHERITING,
    ]);
    expect(DIRECTORY_BASE & (READ | WRITE)).toBe(0n);
    expect(DIRECTORY_BASE & BigInt(wasi.RIGHTS_PATH_OPEN | wasi.RIGHTS_FD_READDIR)).toBe(
      BigInt(wasi.RIGHTS_PATH_OPEN | wasi.RIGHTS_FD_READDIR),
    );
    // What wasi-testsuite's root_directory() does first: open "." with the preopen's own rights.
    expect(open(fd, '.', 0, DIRECTORY_BASE)).toBeInstanceOf(TreeDirectory);
    expect(open(fd, '.', 0, 0n)).toBeInstanceOf(TreeDirectory);
    expect(open(fd, '.', wasi.OFLAGS_DIRECTORY, READ)).toBeInstanceOf(TreeDirectory);
    expect(errnoOfOpen(fd, '.', wasi.OFLAGS_DIRECTORY, READ | WRITE)).toBe(wasi.ERRNO_ISDIR);
    fd.path_create_directory('sub');
    expect(errnoOfOpen(fd, 'sub', wasi.OFLAGS_TRUNC)).toBe(wasi.ERRNO_ISDIR);
    expect(errnoOfOpen(fd, 'new/', wasi.OFLAGS_CREAT)).toBe(wasi.ERRNO_ISDIR);
  });

  it('directory rights only shrink; without path_filestat_set_size, O_TRUNC fails ENOTCAPABLE', () => {
    const { root, fd } = tree();
    open(fd, 'file', wasi.OFLAGS_CREAT, WRITE).fd_write(bytes('keep'));
    expect(fd.fd_fdstat_set_rights(DIRECTORY_INHERITING, DIRECTORY_INHERITING)).toBe(wasi.ERRNO_NOTCAPABLE);
    const noTruncate = DIRECTORY_BASE & ~BigInt(wasi.RIGHTS_PATH_FILESTAT_SET_SIZE);
    expect(fd.fd_fdstat_set_rights(noTruncate, DIRECTORY_INHERITING)).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.fd_fdstat_get().fdstat?.fs_rights_base).toBe(noTruncate);
    expect(errnoOfOpen(fd, 'file', wasi.OFLAGS_TRUNC)).toBe(wasi.ERRNO_NOTCAPABLE);
    expect(contents(root, 'file')).toBe('keep');
    expect(fd.fd_fdstat_set_rights(DIRECTORY_BASE, DIRECTORY_INHERITING)).toBe(wasi.ERRNO_NOTCAPABLE);
  });

  it('refuses a time and "now" for the same stamp (EINVAL), and nothing else', () => {
    expect(conflictingTimes(wasi.FSTFLAGS_ATIM | wasi.FSTFLAGS_ATIM_NOW)).toBe(true);
    expect(conflictingTimes(wasi.FSTFLAGS_MTIM | wasi.FSTFLAGS_MTIM_NOW)).toBe(true);
    expect(conflictingTimes(wasi.FSTFLAGS_ATIM | wasi.FSTFLAGS_MTIM_NOW)).toBe(false);
    expect(conflictingTimes(wasi.FSTFLAGS_ATIM_NOW | wasi.FSTFLAGS_MTIM)).toBe(false);
  });

  it('keeps times per inode and writes a filestat with times at 40, 48 and 56 (the shim wrote 38, 46, 52)', () => {
    const times = new InodeTimes(1_000n, () => 5_000n);
    expect(times.set(7n, 10n, 20n, wasi.FSTFLAGS_MTIM)).toBe(wasi.ERRNO_SUCCESS);
    expect(times.of(7n)).toEqual({ atim: 1_000n, mtim: 20n, ctim: 5_000n });
    expect(times.set(7n, 0n, 0n, wasi.FSTFLAGS_MTIM | wasi.FSTFLAGS_MTIM_NOW)).toBe(wasi.ERRNO_INVAL);
    expect(times.set(7n, 0n, 0n, wasi.FSTFLAGS_ATIM_NOW)).toBe(wasi.ERRNO_SUCCESS);
    expect(times.of(7n)).toEqual({ atim: 5_000n, mtim: 20n, ctim: 5_000n });
    expect(times.of(8n)).toEqual({ atim: 1_000n, mtim: 1_000n, ctim: 1_000n });

    const view = new DataView(new ArrayBuffer(80));
    new Uint8Array(view.buffer).fill(0xee);
    writeFilestat(view, 8, new wasi.Filestat(7n, wasi.FILETYPE_REGULAR_FILE, 300n), times);
    const u64 = (at: number) => view.getBigUint64(8 + at, true);
    expect([u64(8), view.getUint8(8 + 16), u64(32), u64(40), u64(48), u64(56)]).toEqual([
      7n,
      wasi.FILETYPE_REGULAR_FILE,
      300n,
      5_000n,
      20n,
      5_000n,
    ]);
    expect(view.getUint8(7)).toBe(0xee);
    expect(view.getUint8(72)).toBe(0xee);
  });
});

describe('symbolic links in a tree', () => {
  it('are created, read back, seen with nofollow and followed with LOOKUP_SYMLINK_FOLLOW', () => {
    const { root, fd } = tree();
    fd.path_create_directory('dir');
    open(fd, 'dir/file', wasi.OFLAGS_CREAT, WRITE).fd_write(bytes('inside'));
    expect(fd.path_symlink('dir/file', 'to-file')).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.path_symlink('dir', 'to-dir')).toBe(wasi.ERRNO_SUCCESS);
    expect(root.contents.get('to-file')).toBeInstanceOf(SymlinkInode);
    expect(fd.path_readlink('to-file')).toEqual({ ret: 0, data: 'dir/file' });
    expect(fd.path_readlink('dir').ret).toBe(wasi.ERRNO_INVAL);

    const type = (flags: number, path: string) => fd.path_filestat_get(flags, path).filestat?.filetype;
    expect(type(0, 'to-file')).toBe(wasi.FILETYPE_SYMBOLIC_LINK);
    expect(type(FOLLOW, 'to-file')).toBe(wasi.FILETYPE_REGULAR_FILE);
    expect(type(0, 'to-dir')).toBe(wasi.FILETYPE_SYMBOLIC_LINK);
    expect(type(FOLLOW, 'to-dir')).toBe(wasi.FILETYPE_DIRECTORY);
    expect(type(0, 'to-dir/file')).toBe(wasi.FILETYPE_REGULAR_FILE);

    expect(text(open(fd, 'to-file', 0, READ, 0, FOLLOW).fd_read(20).data)).toBe('inside');
    expect(open(fd, 'to-dir', wasi.OFLAGS_DIRECTORY, 0n, 0, FOLLOW)).toBeInstanceOf(TreeDirectory);
    expect(errnoOfOpen(fd, 'to-file', 0)).toBe(wasi.ERRNO_LOOP);
    expect(errnoOfOpen(fd, 'to-dir', wasi.OFLAGS_DIRECTORY)).toBe(wasi.ERRNO_LOOP);

    expect(fd.path_unlink_file('to-dir')).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.path_remove_directory('dir')).toBe(wasi.ERRNO_NOTEMPTY);
    expect([...root.contents.keys()]).toEqual(['dir', 'to-file']);
  });

  it('through the imports: path_symlink reaches the tree, path_readlink truncates to a short buffer', () => {
    const { fd } = tree();
    const shim = new WASI([], [], [fd, fd, fd, fd]);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const imports = shim.wasiImport as unknown as Record<string, (...args: number[]) => number>;
    tabImports(imports as never, shim.fds, [], () => memory, new SafePoints(heapIo(), Infinity));
    const heap = new Uint8Array(memory.buffer);
    heap.set(bytes('targetlink'), 0);
    expect(imports['path_symlink']!(0, 6, 3, 6, 4)).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.path_readlink('link')).toEqual({ ret: 0, data: 'target' });
    heap.fill(0xee, 100, 110);
    expect(imports['path_readlink']!(3, 6, 4, 100, 4, 200)).toBe(wasi.ERRNO_SUCCESS);
    expect([
      text(heap.subarray(100, 104)),
      heap[104],
      new DataView(memory.buffer).getUint32(200, true),
    ]).toEqual(['targ', 0xee, 4]);
  });

  it('never lead out of the descriptor: absolute targets, climbing targets and loops fail', () => {
    const { fd } = tree();
    expect(fd.path_symlink('/', 'abs')).toBe(wasi.ERRNO_NOTCAPABLE);
    expect(fd.path_symlink('../../etc/passwd', 'up')).toBe(wasi.ERRNO_SUCCESS);
    expect(errnoOfOpen(fd, 'up', 0, READ, FOLLOW)).toBe(wasi.ERRNO_NOTCAPABLE);
    expect(fd.path_symlink('loop', 'loop')).toBe(wasi.ERRNO_SUCCESS);
    expect(errnoOfOpen(fd, 'loop', 0, READ, FOLLOW)).toBe(wasi.ERRNO_LOOP);
    expect(fd.path_symlink('missing', 'dangling')).toBe(wasi.ERRNO_SUCCESS);
    expect(errnoOfOpen(fd, 'dangling', 0, READ, FOLLOW)).toBe(wasi.ERRNO_NOENT);
    expect(fd.path_filestat_get(0, 'dangling').filestat?.filetype).toBe(wasi.FILETYPE_SYMBOLIC_LINK);
  });

  it('follow the trailing-slash rules of symlink(2)', () => {
    const { fd } = tree();
    expect(fd.path_symlink('source', 'target/')).toBe(wasi.ERRNO_NOENT);
    fd.path_create_directory('target');
    expect(fd.path_symlink('source', 'target/')).toBe(wasi.ERRNO_EXIST);
    expect(fd.path_symlink('source', 'target')).toBe(wasi.ERRNO_EXIST);
    fd.path_remove_directory('target');
    open(fd, 'target', wasi.OFLAGS_CREAT, 0n);
    expect(fd.path_symlink('source', 'target/')).toBe(wasi.ERRNO_NOTDIR);
    expect(fd.path_symlink('source', 'target')).toBe(wasi.ERRNO_EXIST);
  });
});

describe('links, renames and removals in a tree', () => {
  it('hard links: a second name of the file; EXIST, PERM, NOENT and INVAL where link(2) refuses', () => {
    const { root, fd } = tree();
    open(fd, 'file', wasi.OFLAGS_CREAT, WRITE).fd_write(bytes('one'));
    const link = (from: string, to: string, flags = 0) => {
      const found = fd.path_lookup(from, flags);
      return found.inode_obj === null ? found.ret : fd.path_link(to, found.inode_obj, false);
    };
    expect(link('file', 'link')).toBe(wasi.ERRNO_SUCCESS);
    expect(root.contents.get('link')).toBe(root.contents.get('file'));
    expect(link('file', 'link')).toBe(wasi.ERRNO_EXIST);
    expect(link('file', 'file')).toBe(wasi.ERRNO_EXIST);
    fd.path_create_directory('dir');
    expect(link('file', 'dir')).toBe(wasi.ERRNO_EXIST);
    expect(link('dir', 'dir-link')).toBe(wasi.ERRNO_PERM);
    expect(link('file', 'new/')).toBe(wasi.ERRNO_NOENT);
    fd.path_symlink('missing', 'dangling');
    expect(link('dangling', 'hard-to-dangling')).toBe(wasi.ERRNO_SUCCESS);
    expect(root.contents.get('hard-to-dangling')).toBeInstanceOf(SymlinkInode);
    expect(link('dangling', 'followed', FOLLOW)).toBe(wasi.ERRNO_INVAL);
  });

  it('renames a directory with trailing slashes on either side; a file with one fails ENOTDIR', () => {
    const { root, fd } = tree();
    const rename = (from: string, to: string) => {
      const taken = fd.path_unlink(from);
      if (taken.inode_obj === null) return taken.ret;
      const ret = fd.path_link(to, taken.inode_obj, true);
      if (ret !== 0) fd.path_link(from.replace(/\/$/, ''), taken.inode_obj, true);
      return ret;
    };
    fd.path_create_directory('source');
    expect(rename('source/', 'target')).toBe(0);
    expect(rename('target', 'source/')).toBe(0);
    expect(rename('source/', 'target/')).toBe(0);
    expect(rename('target', 'source')).toBe(0);
    expect([...root.contents.keys()]).toEqual(['source']);
    open(fd, 'file', wasi.OFLAGS_CREAT, 0n);
    expect(rename('file/', 'other')).toBe(wasi.ERRNO_NOTDIR);
    expect(rename('file', 'other/')).toBe(wasi.ERRNO_NOTDIR);
    // The shim renames by unlinking first, so moving a directory into itself finds no parent.
    expect(rename('source', 'source/inner')).toBe(wasi.ERRNO_NOENT);
    expect([...root.contents.keys()].sort()).toEqual(['file', 'source']);
  });

  it('unlink and rmdir answer ENOTDIR, EISDIR, ENOENT and ENOTEMPTY as POSIX does', () => {
    const { fd } = tree();
    open(fd, 'file', wasi.OFLAGS_CREAT, 0n);
    fd.path_create_directory('dir');
    open(fd, 'dir/inner', wasi.OFLAGS_CREAT, 0n);
    expect(fd.path_unlink_file('file/')).toBe(wasi.ERRNO_NOTDIR);
    expect(fd.path_unlink_file('dir')).toBe(wasi.ERRNO_ISDIR);
    expect(fd.path_unlink_file('nothing')).toBe(wasi.ERRNO_NOENT);
    expect(fd.path_remove_directory('file')).toBe(wasi.ERRNO_NOTDIR);
    expect(fd.path_remove_directory('dir/')).toBe(wasi.ERRNO_NOTEMPTY);
    expect(fd.path_create_directory('dir')).toBe(wasi.ERRNO_EXIST);
    expect(fd.path_unlink_file('dir/inner')).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.path_remove_directory('dir/')).toBe(wasi.ERRNO_SUCCESS);
    expect(fd.path_unlink_file('file')).toBe(wasi.ERRNO_SUCCESS);
  });
});
