// Real programs under the tab's WASI (issue 20), in real headless Chromium against a real
// coordinator: a non-zero exit is a result that keeps stdout and /out files with its exit code;
// a failed C assert reaches the requester as the trap's kind plus the assert's own words; a C
// program walks a tar mounted at `/` by relative paths and gets back what it wrote beside its
// inputs; hostile archives fail with typed errors naming the entry or the limit; a sleep, poll()
// on stdin and socket calls return to the program instead of trapping.
import { type Browser, expect, test } from '@playwright/test';
import { packTar, type TarEntry } from 'modern-tar';
import { launchChromium } from '../support/chromium.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, KEY, outputBytes, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  await openVolunteerTab(browser, `${harness.url}/`);
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test('a non-zero exit succeeds with exit_code, keeping stdout and /out files', async () => {
  const id = taskId('exit-files');
  await harness.submit(wasmTask(id, await wasmFixture('exit-with-files')));
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  expect(result.summary).toMatchObject({ exit_code: '3', stderr: 'giving up with status 3\n' });
  expect(result.outputs?.map((o) => o.name)).toEqual(['stdout', 'out/a.txt']);
  expect(outputBytes(result, 'stdout')).toEqual(Buffer.from('wrote a.txt\n'));
  expect(outputBytes(result, 'out/a.txt')).toEqual(Buffer.from('partial work\n'));
});

test('a failed assert fails the task with the trap kind and the assert message', async () => {
  const id = taskId('assert');
  await harness.submit(wasmTask(id, await wasmFixture('assert-fail')));
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'EXECUTION_ERROR',
    message:
      'trap: unreachable; stderr: checking inputs | ' +
      'Assertion failed: argc == 42 && "argc must be 42" (fixtures/assert-fail.c: main: 8)',
  });
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const file = (name: string, body: string): TarEntry => ({
  header: { name, size: Buffer.byteLength(body) },
  body,
});

/** Submits tree-walk with `archive` mounted at `/` as project.tar. */
async function submitTreeWalk(id: string, archive: Uint8Array, params: Record<string, unknown>) {
  await harness.submit(
    wasmTask(id, await wasmFixture('tree-walk'), {
      inputs: [{ name: 'project.tar', content_type: 'application/x-tar', inline_bytes: b64(archive) }],
      params: { mounts: { '/': 'project.tar' }, ...params },
    }),
  );
}

test('a C program walks a tar mounted at / by relative paths; what it wrote beside its inputs comes back', async () => {
  const archive = await packTar([
    file('config.txt', 'mode=fast\n'),
    file('data/a.txt', 'alpha'),
    file('data/b.bin', '0123456789'),
    file('data/log.txt', 'start\n'),
    { header: { name: 'data/nested/', type: 'directory', size: 0 } },
  ]);
  const id = taskId('tree');
  await submitTreeWalk(id, archive, { collect: ['/'] });
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  expect(result.summary?.['exit_code']).toBe('0');
  expect(result.outputs?.map((o) => o.name)).toEqual([
    'stdout',
    'data/log.txt',
    'data/summary.txt',
    'results/count.txt',
  ]);
  expect(outputBytes(result, 'stdout').toString()).toBe(
    'file a.txt 5\nfile b.bin 10\nfile log.txt 6\ndir nested\nconfig: mode=fast\n',
  );
  expect(outputBytes(result, 'data/log.txt')).toEqual(Buffer.from('start\nappended\n'));
  expect(outputBytes(result, 'data/summary.txt')).toEqual(Buffer.from('a.txt 5\nb.bin 10\nlog.txt 6\n'));
  expect(outputBytes(result, 'results/count.txt')).toEqual(Buffer.from('4\n'));
});

test('hostile archives fail with typed errors: traversal, a symlink out, too many entries, too many bytes', async () => {
  const cases: Array<[TarEntry[], Record<string, unknown>, { code: string; message: string }]> = [
    [
      [file('data/a.txt', 'a'), file('../../escape.txt', 'x')],
      {},
      { code: 'INVALID_INPUT', message: 'project.tar: entry "../../escape.txt" leaves the tree (..)' },
    ],
    [
      [{ header: { name: 'data/passwd', type: 'symlink', linkname: '/etc/passwd', size: 0 } }],
      {},
      {
        code: 'INVALID_INPUT',
        message: 'project.tar: link "data/passwd" points outside the tree (/etc/passwd)',
      },
    ],
    [
      [file('a', '1'), file('b', '2'), file('c', '3')],
      { mount_max_entries: 2 },
      { code: 'INPUT_TOO_LARGE', message: 'project.tar: the mounts pass their limit of entries' },
    ],
    [
      [file('big.bin', 'x'.repeat(4096))],
      { mount_max_bytes: 4095 },
      { code: 'INPUT_TOO_LARGE', message: 'project.tar: the mounts pass their limit of unpacked bytes' },
    ],
  ];
  for (const [entries, params, failure] of cases) {
    const id = taskId('hostile-tar');
    await submitTreeWalk(id, await packTar(entries), params);
    const view = await harness.waitFor(id, 'failed');
    // The coordinator puts the field at fault (the archive's input) before the tab's message.
    expect(view.failure).toEqual({ ...failure, message: `inputs[0]: ${failure.message}` });
  }
});

test('a sleep, poll() on stdin and socket calls work in the tab: no trap, errnos the program can handle', async () => {
  const id = taskId('poll');
  await harness.submit(
    wasmTask(id, await wasmFixture('poll-sockets'), {
      inputs: [{ name: 'stdin.txt', content_type: 'text/plain', inline_bytes: b64(Buffer.from('hello')) }],
    }),
  );
  await harness.waitFor(id, 'succeeded');
  expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe(
    'nanosleep=0 waited>=150ms=yes\npoll stdin=1 revents=POLLIN\nrecv=-1 errno=57\nsend=-1 errno=57\n' +
      'shutdown=-1 errno=57\nrecv(99)=-1 errno=8\nENOTSOCK=57 EBADF=8\n',
  );
});

test('an empty input reaches the program as empty stdin and an empty /in file (it used to hang the executor)', async () => {
  const id = taskId('empty-input');
  await harness.submit(
    wasmTask(id, await wasmFixture('wasi-echo'), {
      inputs: [
        { name: 'empty.txt', content_type: 'text/plain', inline_bytes: '' },
        { name: 'b.txt', content_type: 'text/plain', inline_bytes: b64(Buffer.from('AB')) },
      ],
      permissions: { timeout_ms: 10_000 },
    }),
  );
  await harness.waitFor(id, 'succeeded');
  const stdout = outputBytes(await harness.result(id), 'stdout').toString();
  expect(stdout).toContain('stdin=0 bytes\nin:b.txt sum=131\nin:empty.txt sum=0\n');
});

test('a large mounted tree fits the arena: 1,500 small files and a 12 MiB one beside a 64 KiB output limit', async () => {
  const small = Array.from({ length: 1500 }, (_, i) => file(`data/f${i}.txt`, `file ${i}\n`));
  const archive = await packTar([...small, file('big.bin', 'b'.repeat(12 << 20))]);
  const upload = await fetch(`${harness.url}/v1/blobs`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/x-tar' },
    body: archive,
  });
  expect(upload.status).toBe(201);
  const { uri } = (await upload.json()) as { uri: string };
  const id = taskId('big-tree');
  const task = wasmTask(id, await wasmFixture('empty'), {
    permissions: { max_output_bytes: 65_536 },
    params: { mounts: { '/': 'tree.tar' } },
  });
  await harness.submit({ ...task, inputs: [{ name: 'tree.tar', content_type: 'application/x-tar', uri }] });
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
});
