// Mounts of tar archives under the tab's WASI: unpacking (tar-tree.ts) with its refusals and
// limits, and a C program that walks a tree mounted at `/` by relative paths, writes beside its
// inputs, and gets back exactly what it created or changed (wasi-mounts.ts).
import { createHash } from 'node:crypto';
import { packTar, type TarEntry } from 'modern-tar';
import { describe, expect, it } from 'vitest';
import { ExecutorError } from '../src/executor-error.ts';
import { DEFAULT_LIMITS, type Job } from '../src/job.ts';
import { heapIo } from '../src/job-io.ts';
import { unpackTree } from '../src/tar-tree.ts';
import { RegionDirectory, RegionFile } from '../src/wasi-io.ts';
import { runWasiJob } from '../src/wasm-executor.ts';
import { WasmModules } from '../src/wasm-modules.ts';
import { fixture } from './fixtures.ts';

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

function tar(entries: TarEntry[]): Promise<Uint8Array> {
  return packTar(entries);
}

const file = (name: string, body: string): TarEntry => ({
  header: { name, size: text(body).byteLength },
  body,
});

async function unpack(archive: Uint8Array, left = { bytes: 1 << 20, entries: 100 }) {
  const source = { name: 'tree.tar', field: 'inputs[0]', bytes: archive };
  return unpackTree(source, '/', heapIo(), { left: 1 << 20 }, left);
}

async function refusal(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; field?: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ExecutorError) {
      return { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) };
    }
    throw error;
  }
  throw new Error('expected a refusal');
}

/** The files of a tree as path → text. */
function listing(dir: RegionDirectory, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, inode] of dir.contents) {
    if (inode instanceof RegionDirectory) Object.assign(out, listing(inode, `${prefix}${name}/`));
    else if (inode instanceof RegionFile) out[`${prefix}${name}`] = decode(inode.buffer.view());
  }
  return out;
}

describe('tar unpacking', () => {
  it('unpacks files, directories, ./ names and links inside the tree', async () => {
    const tree = await unpack(
      await tar([
        { header: { name: './', type: 'directory', size: 0 } },
        { header: { name: './a/', type: 'directory', size: 0 } },
        file('./a/x.txt', 'x!'),
        file('b/c/y.txt', 'why'),
        { header: { name: 'a/link', type: 'symlink', linkname: '../b/c/y.txt', size: 0 } },
        { header: { name: 'hard', type: 'link', linkname: 'a/x.txt', size: 0 } },
        { header: { name: 'empty/', type: 'directory', size: 0 } },
      ]),
    );
    expect(listing(tree)).toEqual({ 'a/x.txt': 'x!', 'a/link': 'why', 'b/c/y.txt': 'why', hard: 'x!' });
    expect(tree.contents.get('empty')).toBeInstanceOf(RegionDirectory);
  });

  it.each([
    ['../evil.txt', file('../evil.txt', 'x'), 'tree.tar: entry "../evil.txt" leaves the tree (..)'],
    ['a/../../evil', file('a/../../evil', 'x'), 'tree.tar: entry "a/../../evil" leaves the tree (..)'],
    ['/etc/passwd', file('/etc/passwd', 'x'), 'tree.tar: entry "/etc/passwd" has an absolute name'],
    [
      'a symlink out',
      { header: { name: 'a/out', type: 'symlink', linkname: '../../etc/passwd', size: 0 } },
      'tree.tar: link "a/out" points outside the tree (../../etc/passwd)',
    ],
    [
      'an absolute symlink',
      { header: { name: 'abs', type: 'symlink', linkname: '/etc/passwd', size: 0 } },
      'tree.tar: link "abs" points outside the tree (/etc/passwd)',
    ],
    [
      'a dangling symlink',
      { header: { name: 'gone', type: 'symlink', linkname: 'nothing', size: 0 } },
      'tree.tar: link "gone" points to nothing in the tree; only links to files unpack',
    ],
    [
      'a FIFO',
      { header: { name: 'pipe', type: 'fifo', size: 0 } },
      'tree.tar: entry "pipe" is a fifo; only files, directories and links unpack',
    ],
  ] as Array<[string, TarEntry, string]>)('refuses %s, naming the entry', async (_what, entry, message) => {
    expect(await refusal(unpack(await tar([file('ok.txt', 'fine'), entry])))).toEqual({
      code: 'INVALID_INPUT',
      message,
      field: 'inputs[0]',
    });
  });

  it('stops at the entry and byte limits: INPUT_TOO_LARGE', async () => {
    const three = await tar([file('a', '1'), file('b', '2'), file('c', '3')]);
    expect(await refusal(unpack(three, { bytes: 100, entries: 2 }))).toEqual({
      code: 'INPUT_TOO_LARGE',
      message: 'tree.tar: the mounts pass their limit of entries',
      field: 'inputs[0]',
    });
    expect(await refusal(unpack(three, { bytes: 2, entries: 100 }))).toEqual({
      code: 'INPUT_TOO_LARGE',
      message: 'tree.tar: the mounts pass their limit of unpacked bytes',
      field: 'inputs[0]',
    });
    expect(Object.keys(listing(await unpack(three, { bytes: 3, entries: 3 })))).toEqual(['a', 'b', 'c']);
  });

  it('refuses bytes that are not a tar archive', async () => {
    const junk = new Uint8Array(1024).fill(0x41);
    const failure = await refusal(unpack(junk));
    expect(failure.code).toBe('INVALID_INPUT');
    expect(failure.message).toMatch(/^tree\.tar is not a readable tar archive: /);
    // Shorter than one header: no archive, not an empty one.
    expect(await refusal(unpack(new TextEncoder().encode('not a tar file at all')))).toEqual({
      code: 'INVALID_INPUT',
      message: 'tree.tar is not a readable tar archive: shorter than one 512-byte header',
      field: 'inputs[0]',
    });
  });
});

function mountJob(archive: Uint8Array, params: Job['spec']['params']): Job {
  const module = fixture('tree-walk');
  return {
    jobId: 1,
    module,
    inputs: [{ name: 'project.tar', contentType: 'application/x-tar', bytes: archive }],
    spec: {
      kind: 'wasi',
      taskId: 't-tree',
      entry: '_start',
      moduleHash: `sha256:${createHash('sha256').update(module).digest('hex')}`,
      wasiFs: true,
      inputs: [{ name: 'project.tar', contentType: 'application/x-tar' }],
      params,
      limits: { ...DEFAULT_LIMITS },
    },
  };
}

async function projectTar(): Promise<Uint8Array> {
  return tar([
    file('config.txt', 'mode=fast\n'),
    file('data/a.txt', 'alpha'),
    file('data/b.bin', '0123456789'),
    file('data/log.txt', 'start\n'),
    { header: { name: 'data/nested/', type: 'directory', size: 0 } },
  ]);
}

describe('params.mounts and params.collect', () => {
  it('a C program walks a tree mounted at / by relative paths; what it made or changed comes back', async () => {
    const job = mountJob(await projectTar(), { mounts: { '/': 'project.tar' }, collect: ['/'] });
    const result = await runWasiJob(job, heapIo(), new WasmModules());
    if (!result.ok) throw new Error(result.message);
    expect(result.summary['exit_code']).toBe('0');
    expect(result.outputs.map((o) => [o.name, decode(o.bytes)])).toEqual([
      ['stdout', 'file a.txt 5\nfile b.bin 10\nfile log.txt 6\ndir nested\nconfig: mode=fast\n'],
      ['data/log.txt', 'start\nappended\n'],
      ['data/summary.txt', 'a.txt 5\nb.bin 10\nlog.txt 6\n'],
      ['results/count.txt', '4\n'],
    ]);
  });

  it('collects /out only by default', async () => {
    const job = mountJob(await projectTar(), { mounts: { '/': 'project.tar' } });
    const result = await runWasiJob(job, heapIo(), new WasmModules());
    if (!result.ok) throw new Error(result.message);
    expect(result.outputs.map((o) => o.name)).toEqual(['stdout']);
  });

  it.each([
    [{ mounts: { '/data/../x': 'project.tar' } }, 'params.mounts["/data/../x"]'],
    [{ mounts: { '/out/x': 'project.tar' } }, 'params.mounts["/out/x"]'],
    [{ mounts: { '/': 'missing.tar' } }, 'params.mounts["/"]'],
    [{ collect: ['relative'] }, 'params.collect[0]'],
    [{ collect: ['/elsewhere'] }, 'params.collect[0]'],
    [{ mount_max_bytes: -1 }, 'params.mount_max_bytes'],
  ])('refuses bad params (%j) with INVALID_PARAMS naming %s', async (params, field) => {
    const failure = await refusal(
      runWasiJob(mountJob(await projectTar(), params), heapIo(), new WasmModules()),
    );
    expect(failure).toMatchObject({ code: 'INVALID_PARAMS', field });
  });
});
