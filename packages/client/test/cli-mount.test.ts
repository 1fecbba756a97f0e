// `flock submit --mount` and `flock map --wasm --mount` against a real coordinator: what the
// simulated volunteer receives (input names and content types, params.mounts, wasi_fs) and that the
// archive unpacks, with modern-tar as the tab reads it, to exactly the local directory's files.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComputeEnvelope, DataRef } from '@flock/protocol';
import { unpackTar } from 'modern-tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/exit-codes.ts';
import { packDirectory } from '../src/cli/mount-dirs.ts';
import { FlockClient } from '../src/index.ts';
import { INLINE_INPUT_BYTES } from '../src/library-inputs.ts';
import { runCli } from './support/run-cli.ts';
import { KEY, startTestCoordinator, type TestCoordinator, WASM_HEADER } from './support/test-coordinator.ts';

let env: TestCoordinator;
let dir: string;
let client: FlockClient;

beforeAll(async () => {
  env = await startTestCoordinator();
  dir = await mkdtemp(join(tmpdir(), 'flock-cli-mount-'));
  client = new FlockClient({ url: env.url, apiKey: KEY });
});

afterAll(async () => {
  await env?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const flock = (args: string[], stdin = '') => runCli(args, { url: env.url, key: KEY, stdin });

/** Writes a tree of files (name → bytes; a name ending in / is an empty directory). */
async function tree(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const root = join(dir, name);
  await mkdir(root, { recursive: true });
  for (const [path, bytes] of Object.entries(files)) {
    if (path.endsWith('/')) {
      await mkdir(join(root, path), { recursive: true });
      continue;
    }
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  return root;
}

/** The entries of an input's archive as the tab reads them: name → bytes (directories: 'dir'). */
async function unpacked(ref: DataRef | undefined): Promise<Record<string, string>> {
  const bytes = ref?.inline_bytes ?? (await client.blob(ref!.uri!.replace(/^flock:/, ''))).bytes;
  const entries = await unpackTar(bytes);
  return Object.fromEntries(
    entries.map((e) => [
      e.header.name,
      e.header.type === 'directory' ? 'dir' : Buffer.from(e.data ?? new Uint8Array()).toString('hex'),
    ]),
  );
}

const hex = (text: string | Uint8Array) => Buffer.from(text).toString('hex');

function sent(taskId: string): ComputeEnvelope | undefined {
  return env.volunteer.assignments.find((a) => a.task_id === taskId)?.envelope;
}

describe('flock --mount', () => {
  it('submit packs each directory into a tar input and names it in params.mounts beside the envelope params', async () => {
    const binary = new Uint8Array([0, 1, 2, 255, 254]);
    const project = await tree('project', {
      'a.txt': 'alpha\n',
      'sub/b.bin': binary,
      'sub/deeper/c.txt': 'gamma',
      'empty/': '',
    });
    await symlink('a.txt', join(project, 'link-to-a'));
    const data = await tree('data', { 'rows.csv': 'x,y\n1,2\n' });
    const envelope = {
      task_id: 'cli-mount-1',
      op: 'sum',
      module: env.module,
      requirements: { min: { wasm: true } },
      inputs: [{ name: 'input', content_type: 'application/octet-stream', inline_bytes: 'AQID' }],
      params: { args: ['--verbose'], collect: ['/'], mounts: { '/data': 'replaced', '/old': 'input' } },
    };
    const run = await flock(
      ['submit', '-', '--wait', '--mount', `/=${project}`, '--mount', `/data=${data}`],
      JSON.stringify(envelope),
    );
    expect(run.code).toBe(0);
    const got = sent('cli-mount-1');
    expect(got?.inputs?.map((i) => [i.name, i.content_type, i.inline_bytes !== undefined])).toEqual([
      ['input', 'application/octet-stream', true],
      ['mount-root.tar', 'application/x-tar', true],
      ['mount-data.tar', 'application/x-tar', true],
    ]);
    expect(got?.params).toEqual({
      args: ['--verbose'],
      collect: ['/'],
      mounts: { '/data': 'mount-data.tar', '/old': 'input', '/': 'mount-root.tar' },
    });
    expect(got?.module?.permissions?.wasi_fs).toBe(true);
    expect(await unpacked(got?.inputs?.[1])).toEqual({
      'a.txt': hex('alpha\n'),
      'empty/': 'dir',
      'link-to-a': hex('alpha\n'),
      'sub/': 'dir',
      'sub/b.bin': hex(binary),
      'sub/deeper/': 'dir',
      'sub/deeper/c.txt': hex('gamma'),
    });
    expect(await unpacked(got?.inputs?.[2])).toEqual({ 'rows.csv': hex('x,y\n1,2\n') });
  });

  it('map --wasm gives every task its file beside one uploaded archive, --params merged', async () => {
    const big = new Uint8Array(INLINE_INPUT_BYTES + 1).map((_, i) => (i * 7) & 0xff);
    const root = await tree('big', { 'model/weights.bin': big, README: 'weights' });
    const wasm = join(dir, 'prog.wasm');
    await writeFile(wasm, WASM_HEADER);
    const inputs = [1, 2].map((n) => join(dir, `item-${n}.bin`));
    await Promise.all(inputs.map((path, i) => writeFile(path, new Uint8Array([i + 1]))));
    const run = await flock([
      'map',
      '--wasm',
      wasm,
      '--campaign',
      'cli-mount-map',
      '--input-name',
      'item',
      '--params',
      '{"collect":["/out","/work"]}',
      '--mount',
      `/work=${root}`,
      ...inputs,
    ]);
    expect(run).toEqual({
      code: 0,
      stdout: `cli-mount-map-0  succeeded  ${inputs[0]}\ncli-mount-map-1  succeeded  ${inputs[1]}\n2/2 succeeded\n`,
      stderr: '',
    });
    const [first, second] = [sent('cli-mount-map-0'), sent('cli-mount-map-1')];
    expect(first?.inputs?.map((i) => [i.name, i.content_type, i.inline_bytes === undefined])).toEqual([
      ['item', 'application/octet-stream', false],
      ['mount-work.tar', 'application/x-tar', true],
    ]);
    expect(first?.params).toEqual({ collect: ['/out', '/work'], mounts: { '/work': 'mount-work.tar' } });
    expect(first?.module?.permissions?.wasi_fs).toBe(true);
    expect(second?.inputs?.[1]?.uri).toBe(first?.inputs?.[1]?.uri);
    expect(await unpacked(first?.inputs?.[1])).toEqual({
      README: hex('weights'),
      'model/': 'dir',
      'model/weights.bin': hex(big),
    });
  });

  it('refuses a bad --mount with exit 2 and a message naming it', async () => {
    const ok = await tree('ok', { 'f.txt': 'f' });
    const outside = await tree('outside', { 'secret.txt': 's' });
    const leaky = await tree('leaky', { 'f.txt': 'f' });
    await symlink(join(outside, 'secret.txt'), join(leaky, 'escape'));
    const wasm = join(dir, 'prog.wasm');
    await writeFile(wasm, WASM_HEADER);
    const item = join(dir, 'item-1.bin');
    const cases: Array<[string[], string]> = [
      [['--mount', 'data'], '--mount must be <guest dir>=<local dir>, got "data"'],
      [['--mount', '/data='], '--mount must be <guest dir>=<local dir>, got "/data="'],
      [
        ['--mount', `data=${ok}`],
        `--mount data=${ok}: the guest path must be absolute, without "." or ".." components or a trailing /`,
      ],
      [
        ['--mount', `/a/../b=${ok}`],
        `--mount /a/../b=${ok}: the guest path must be absolute, without "." or ".." components or a trailing /`,
      ],
      [['--mount', `/out/x=${ok}`], `--mount /out/x=${ok}: a mount may not be /in, /out or under them`],
      [['--mount', `/d=${ok}`, '--mount', `/d=${ok}`], '--mount /d is given twice'],
      [
        ['--mount', `/d=${join(dir, 'missing')}`],
        `--mount: cannot read directory ${join(dir, 'missing')}: ENOENT`,
      ],
      [['--mount', `/d=${join(ok, 'f.txt')}`], `--mount: ${join(ok, 'f.txt')} is not a directory`],
      [
        ['--mount', `/d=${leaky}`],
        `--mount: ${join(leaky, 'escape')} is a symbolic link out of the directory (to ${join(outside, 'secret.txt')})`,
      ],
    ];
    for (const [mount, message] of cases) {
      const run = await flock(['map', '--wasm', wasm, ...mount, item]);
      expect(run).toEqual({
        code: 2,
        stdout: '',
        stderr: `flock: USAGE: ${message}\nRun "flock --help" for usage.\n`,
      });
    }
    const fifo = await tree('fifo', {});
    execFileSync('mkfifo', [join(fifo, 'pipe')]);
    expect((await flock(['map', '--wasm', wasm, '--mount', `/d=${fifo}`, item])).stderr).toBe(
      `flock: USAGE: --mount: ${join(fifo, 'pipe')} is neither a regular file nor a directory\nRun "flock --help" for usage.\n`,
    );
    const builtin = await flock(['map', '--builtin', 'sum', '--mount', `/d=${ok}`, item]);
    expect(builtin.stderr).toBe('flock: USAGE: --mount needs --wasm\nRun "flock --help" for usage.\n');
    const kernel = JSON.stringify({
      task_id: 'cli-mount-kernel',
      op: 'sum',
      module: { ...env.module, abi: 'kernel' },
      requirements: { min: { wasm: true } },
    });
    expect(await flock(['submit', '-', '--mount', `/d=${ok}`], kernel)).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'flock: USAGE: --mount needs a WASI module (module.kind "wasm", abi "wasi")\nRun "flock --help" for usage.\n',
    });
    expect(env.volunteer.assignments.some((a) => a.task_id === 'cli-mount-kernel')).toBe(false);
  });

  it('refuses a tree past the limits of the tab, counted over all mounts', async () => {
    const root = await tree('counted', { 'a/b.txt': '12345', 'c.txt': '678' });
    const archive = await packDirectory(root, { bytes: 8, entries: 3 });
    expect(Object.keys(await unpacked({ inline_bytes: archive }))).toEqual(['a/', 'a/b.txt', 'c.txt']);
    const limit = `--mount: ${root} is over the tab's limit of 10000 entries or 67108864 bytes (over all mounts)`;
    await expect(packDirectory(root, { bytes: 7, entries: 3 })).rejects.toThrow(new UsageError(limit));
    await expect(packDirectory(root, { bytes: 8, entries: 2 })).rejects.toThrow(new UsageError(limit));
  });
});
