// The volunteer page in real headless Chromium against a real coordinator: a person opens the
// page, presses Start, and tasks submitted over the REST API run in the tab: a C program compiled
// to WASI, a kernel-ABI module, and hostile modules that must fail with exact codes while the tab
// goes on working; results delivered once across reloads. A screenshot mid-run goes to
// e2e/artifacts/. (The GPU slot: WGSL, chunks, built-in ops, device loss: volunteer-gpu.spec.ts.)
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { launchChromium } from '../support/chromium.ts';
import { ARTIFACTS, Harness, KEY, outputBytes, taskId, wasmFixture, wasmTask } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let page: Page;

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

/** Counts what the tab keeps in IndexedDB for delivery: assignments in flight, unacknowledged outcomes. */
function pendingInTab(tab: Page): Promise<{ assignments: number; outcomes: number }> {
  return tab.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const request = indexedDB.open('flock-volunteer');
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const tx = request.result.transaction(['assignments', 'outcomes']);
          const a = tx.objectStore('assignments').count();
          const o = tx.objectStore('outcomes').count();
          tx.oncomplete = () => {
            request.result.close();
            resolve({ assignments: a.result, outcomes: o.result });
          };
        };
      }),
  );
}

/** Lease ids of the assignments the tab keeps in IndexedDB for a reload. */
function storedLeases(tab: Page): Promise<string[]> {
  return tab.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const request = indexedDB.open('flock-volunteer');
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const keys = request.result.transaction('assignments').objectStore('assignments').getAllKeys();
          keys.onsuccess = () => {
            request.result.close();
            resolve(keys.result as string[]);
          };
        };
      }),
  );
}

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: true });
  page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') console.log(`[tab] ${message.text()}`);
  });
  await page.goto(`${harness.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
});

test.afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

test('the page explains itself, is isolated, and starts on consent', async () => {
  await expect(page.getByRole('heading', { name: 'What happens when you press Start' })).toBeVisible();
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  await expect(page.locator('#isolation')).toBeHidden();
  await expect(page.locator('#gpu-notice')).toBeHidden();
  // Nothing connects before the person presses Start.
  await expect(page.locator('#connection')).toHaveText('idle');
  expect((await harness.api<{ workers: unknown[] }>('GET', '/v1/workers')).body.workers).toEqual([]);

  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  type WorkerView = { connected: boolean; capability: Record<string, unknown> };
  let workers: WorkerView[] = [];
  await expect
    .poll(async () => {
      workers = (await harness.api<{ workers: WorkerView[] }>('GET', '/v1/workers')).body.workers;
      return workers.map((w) => w.connected);
    })
    .toEqual([true]);
  expect(workers[0]!.capability).toMatchObject({
    wasm: true,
    wasm_simd: true,
    webgpu: true,
    cross_origin_isolated: true,
    secure_context: true,
    shared_array_buffer: true,
    cpu_slots: 1,
    gpu_slots: 1,
    gpu: { backend: 'webgpu', architecture: 'swiftshader', is_fallback_adapter: true },
  });
});

test('a C program compiled to WASI returns its stdout and /out files', async () => {
  const module = await wasmFixture('wasi-echo');
  const id = taskId('wasi');
  await harness.submit(
    wasmTask(id, module, {
      inputs: [{ name: 'greeting.txt', content_type: 'text/plain', inline_bytes: b64('hello flock') }],
      params: { args: ['alpha', 'beta'], env: { GREETING: 'hi' } },
    }),
  );
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.executor).toBe('wasm-wasi');
  const result = await harness.result(id);
  const sum = [...Buffer.from('hello flock')].reduce((a, b) => a + b, 0);
  expect(outputBytes(result, 'stdout').toString()).toBe(
    `argc=3 arg1=alpha arg2=beta\nGREETING=hi\nstdin=11 bytes\nin:greeting.txt sum=${sum}\nwrite-in=refused\n`,
  );
  expect(outputBytes(result, 'out/upper.txt').toString()).toBe('HELLO FLOCK');
});

test('an input too large for a frame goes up as a blob and the tab fetches it with its lease', async () => {
  const data = Buffer.alloc(1536 << 10);
  for (let i = 0; i < data.length; i++) data[i] = 0x61 + (i % 26);
  const inline = await harness.api<{ error: { code: string; field: string } }>(
    'POST',
    '/v1/tasks',
    wasmTask(taskId('inline-big'), await wasmFixture('wasi-echo'), {
      inputs: [{ name: 'big.txt', inline_bytes: b64(data) }],
    }),
  );
  expect(inline.status).toBe(413);
  expect(inline.body.error).toMatchObject({ code: 'TASK_TOO_LARGE', field: 'inputs[0]' });
  const upload = await fetch(`${harness.url}/v1/blobs`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  expect(upload.status).toBe(201);
  const { uri } = (await upload.json()) as { uri: string };
  const id = taskId('blob-input');
  const task = wasmTask(id, await wasmFixture('wasi-echo'));
  await harness.submit({ ...task, inputs: [{ name: 'big.txt', uri }] });
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  const sum = data.reduce((a, b) => a + b, 0);
  // The program reads the whole file (its stdin read stops at its 64 KiB buffer).
  expect(outputBytes(result, 'stdout').toString()).toContain(`in:big.txt sum=${sum}\n`);
});

test('a burst of tasks on one CPU slot runs one at a time, every one succeeding', async () => {
  const empty = await wasmFixture('empty');
  const ids = Array.from({ length: 6 }, () => taskId('burst'));
  await Promise.all(ids.map((id) => harness.submit(wasmTask(id, empty))));
  for (const id of ids) {
    const view = await harness.waitFor(id, 'succeeded');
    expect(view.attempts).toHaveLength(1);
  }
});

test('an uploaded module is fetched once (as the coordinator metered it), verified, cached in IndexedDB and advertised', async () => {
  const module = await wasmFixture('wasi-echo');
  const upload = await fetch(`${harness.url}/v1/modules`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/wasm' },
    body: module.bytes as Uint8Array<ArrayBuffer>,
  });
  expect(upload.status).toBe(201);
  const uploaded = (await upload.json()) as { hash: string; uri: string; metered_hash: string };
  expect(uploaded).toMatchObject({ hash: module.hash, uri: `flock:${module.hash}` });
  // What tabs fetch and run: the module instrumented with fuel, named by its own hash.
  const metered = uploaded.metered_hash;
  const fetches: string[] = [];
  const onRequest = (request: { url(): string }) => {
    if (request.url().includes('/v1/modules/')) fetches.push(request.url());
  };
  page.on('request', onRequest);
  try {
    for (const arg of ['one', 'two']) {
      const id = taskId('uploaded');
      await harness.submit({
        task_id: id,
        op: 'echo',
        module: {
          kind: 'wasm',
          uri: `flock:${module.hash}`,
          hash: module.hash,
          permissions: { wasi_fs: true },
        },
        requirements: { min: { wasm: true } },
        params: { args: [arg] },
      });
      await harness.waitFor(id, 'succeeded');
      expect(outputBytes(await harness.result(id), 'stdout').toString()).toMatch(
        new RegExp(`^argc=2 arg1=${arg}\n`),
      );
    }
    expect(fetches).toEqual([`${harness.url}/v1/modules/${metered}`]);
  } finally {
    page.off('request', onRequest);
  }
  const workers = (
    await harness.api<{ workers: Array<{ connected: boolean; capability: { cached_modules?: string[] } }> }>(
      'GET',
      '/v1/workers',
    )
  ).body.workers;
  expect(workers.find((w) => w.connected)?.capability.cached_modules).toEqual([metered]);
});

test('a kernel-ABI module computes in place', async () => {
  const module = await wasmFixture('kernel-poly-simd');
  const xs = new Float32Array(1024).map((_, i) => (i % 64) / 64 - 0.5);
  const id = taskId('kernel');
  await harness.submit(
    wasmTask(id, module, {
      abi: 'kernel',
      inputs: [{ name: 'x', inline_bytes: b64(new Uint8Array(xs.buffer)) }],
    }),
  );
  const view = await harness.waitFor(id, 'succeeded');
  // Shared memory in an isolated tab: the kernel ran on the sab-bridge arena, not on a copy.
  expect(view.executor).toBe('wasm-kernel-arena');
  const out = outputBytes(await harness.result(id), 'out');
  const expected = new Float32Array(xs.length);
  for (const [i, x] of xs.entries()) {
    let acc = 1;
    for (let k = 0; k < 16; k++) acc = Math.fround(Math.fround(acc * x) + 0.5);
    expected[i] = acc;
  }
  expect(Buffer.from(out).equals(Buffer.from(expected.buffer))).toBe(true);
});

test('an infinite loop is killed at its timeout and the tab goes on to the next task', async () => {
  const loop = await wasmFixture('infinite-loop');
  const empty = await wasmFixture('empty');
  const loopId = taskId('loop');
  const nextId = taskId('after-loop');
  await harness.submit(wasmTask(loopId, loop, { permissions: { timeout_ms: 1500 } }));
  await harness.submit(wasmTask(nextId, empty));
  const view = await harness.waitFor(loopId, 'failed');
  expect(view.failure).toEqual({
    code: 'TIMEOUT',
    message:
      'job ran past its 1500 ms timeout; it did not stop at a safe point, so its executor was terminated',
  });
  await harness.waitFor(nextId, 'succeeded');
  await expect(page.locator('#last-task')).toHaveText(`${nextId}: ok (wasm-wasi)`);
});

test('a memory.grow bomb stops at the limit', async () => {
  const id = taskId('bomb');
  await harness.submit(
    wasmTask(id, await wasmFixture('memory-bomb'), { permissions: { memory_pages: 256 } }),
  );
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure?.code).toBe('MEMORY_LIMIT');
  expect(view.failure?.message).toMatch(/with memory at \d+ of 256 pages$/);
});

test('a wrong hash is refused: at submit by the coordinator, and by the tab before compiling', async () => {
  const module = await wasmFixture('wasi-echo');
  const wrong = `sha256:${'ab'.repeat(32)}`;
  const id0 = taskId('hash');
  const refused = await harness.api('POST', '/v1/tasks', wasmTask(id0, module, { hash: wrong }));
  expect(refused).toEqual({
    status: 400,
    body: {
      error: {
        code: 'HASH_MISMATCH',
        message: `module sha256 is ${module.hash.slice('sha256:'.length)}, expected ${'ab'.repeat(32)}`,
        field: 'module.hash',
      },
    },
  });
  // A module damaged on the coordinator's disk after upload: the tab checks what it fetched. A
  // custom section makes it a module no tab has cached (instrumentation keeps custom sections).
  const name = Buffer.from(`flock-test-${id0}`);
  const unique = Buffer.concat([module.bytes, Buffer.from([0, name.length + 1, name.length]), name]);
  const upload = await fetch(`${harness.url}/v1/modules`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/wasm' },
    body: unique,
  });
  const { uri, metered_hash: metered } = (await upload.json()) as { uri: string; metered_hash: string };
  const damaged = Buffer.from(await readFile(harness.blobPath(metered)));
  damaged[damaged.length - 1]! ^= 1;
  await writeFile(harness.blobPath(metered), damaged);
  const id = taskId('hash');
  await harness.submit({ ...wasmTask(id, module), module: { kind: 'wasm', uri } });
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'HASH_MISMATCH',
    message: `module sha256 is ${createHash('sha256').update(damaged).digest('hex')}, expected ${metered.slice('sha256:'.length)}`,
  });
});

test('a forbidden import is refused', async () => {
  const id = taskId('import');
  await harness.submit(wasmTask(id, await wasmFixture('forbidden-import')));
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({
    code: 'FORBIDDEN_IMPORT',
    message: 'import env.steal_cookies (function) is not part of the wasi ABI',
  });
});

test('an oversized output fails OUTPUT_TOO_LARGE', async () => {
  const id = taskId('huge');
  await harness.submit(
    wasmTask(id, await wasmFixture('huge-output'), { permissions: { max_output_bytes: 1_000_000 } }),
  );
  const view = await harness.waitFor(id, 'failed');
  expect(view.failure).toEqual({ code: 'OUTPUT_TOO_LARGE', message: 'stdout passed the output limit' });
});

test('an output too large for one frame is streamed and arrives whole', async () => {
  const id = taskId('stream');
  await harness.submit(
    wasmTask(id, await wasmFixture('huge-output'), { permissions: { max_output_bytes: 16 * 1024 * 1024 } }),
  );
  await harness.waitFor(id, 'succeeded');
  const result = await harness.result(id);
  const stdout = result.outputs?.find((o) => o.name === 'stdout');
  expect(stdout?.size).toBe(8 * 1024 * 1024);
  expect(stdout?.uri).toMatch(/^\/v1\/blobs\/sha256:[0-9a-f]{64}$/);
  const response = await fetch(`${harness.url}${stdout!.uri}`, {
    headers: { Authorization: `Bearer ${KEY}` },
  });
  expect(response.status).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  expect(bytes.length).toBe(8 * 1024 * 1024);
  expect(bytes.equals(Buffer.alloc(8 * 1024 * 1024, 'x'))).toBe(true);
});

test('a person watches a task run (screenshot) and the running task can be cancelled', async () => {
  const spin = await wasmFixture('spin');
  const id = taskId('spin');
  await harness.submit(wasmTask(id, spin, { params: { args: ['20000'] } }));
  await harness.waitFor(id, 'running');
  await expect(page.locator(`#running li[data-task-id="${id}"]`)).toBeVisible();
  // The program's progress lines reach the coordinator and the page while it runs.
  await expect
    .poll(async () => (await harness.task(id)).progress?.pct ?? 0, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(10);
  await expect
    .poll(() =>
      page
        .locator(`#running li[data-task-id="${id}"] progress`)
        .evaluate((p) => (p as HTMLProgressElement).value),
    )
    .toBeGreaterThanOrEqual(10);
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'volunteer-mid-run.png'), fullPage: true });

  const { status, body } = await harness.api<{ state: string }>('DELETE', `/v1/tasks/${id}`);
  expect(status).toBe(200);
  expect(body.state).toBe('cancelled');
  await expect(page.locator(`#running li[data-task-id="${id}"]`)).toHaveCount(0);
  const next = taskId('after-cancel');
  await harness.submit(wasmTask(next, await wasmFixture('empty')));
  await harness.waitFor(next, 'succeeded');
});

test('a reload in the middle of a task still delivers its result exactly once', async () => {
  const spin = await wasmFixture('spin');
  const id = taskId('reload');
  await harness.submit(wasmTask(id, spin, { params: { args: ['1500'] } }));
  const running = await harness.waitFor(id, 'running');
  expect(running.attempts).toHaveLength(1);
  await expect(page.locator(`#running li[data-task-id="${id}"]`)).toBeVisible();
  const workerId = await page.locator('#worker-id').textContent();
  // The write-behind keeps the assignment in IndexedDB once it has run past its window.
  await expect.poll(() => storedLeases(page)).toContain(running.attempts[0]!.lease_id);
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  // Consent is remembered: the tab reconnects by itself, resumes its identity and the job.
  await expect(page.locator('#connection')).toHaveText('open');
  // The session token resumed the same worker identity.
  await expect(page.locator('#worker-id')).toHaveText(workerId ?? '');
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.attempts).toHaveLength(1);
  expect(view.attempts[0]).toMatchObject({ lease_id: running.attempts[0]!.lease_id, outcome: 'succeeded' });
  expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe('spun 1500 ms\n');
  // Acknowledged, so forgotten: nothing is left in IndexedDB to deliver or run again.
  await expect.poll(() => pendingInTab(page)).toEqual({ assignments: 0, outcomes: 0 });
});

test('a reload inside the write-behind window runs the job again, and its result is delivered once', async () => {
  const spin = await wasmFixture('spin');
  const id = taskId('reload-early');
  // A long window, so that the reload surely falls inside it.
  await page.evaluate('flockVolunteer.setWriteBehindWindow(60000)');
  // Long enough that the reload surely comes while it runs (its result must not be sent first).
  await harness.submit(wasmTask(id, spin, { params: { args: ['3000'] } }));
  await expect(page.locator(`#running li[data-task-id="${id}"]`)).toBeVisible();
  // Nothing of it is in IndexedDB yet: a reload now loses the run, not the task.
  const early = await harness.waitFor(id, 'running');
  expect(await storedLeases(page)).not.toContain(early.attempts[0]!.lease_id);
  await page.reload();
  await expect(page.locator('#connection')).toHaveText('open');
  const view = await harness.waitFor(id, 'succeeded');
  // The coordinator requeued the lease the tab no longer listed; one attempt succeeded.
  expect(view.attempts.map((a) => [a.outcome, a.code ?? null])).toEqual([
    ['lease_expired', 'LEASE_LOST'],
    ['succeeded', null],
  ]);
  expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe('spun 3000 ms\n');
  await expect.poll(() => pendingInTab(page)).toEqual({ assignments: 0, outcomes: 0 });
});

test('a result finished while disconnected is kept and delivered once in the next hello', async () => {
  const spin = await wasmFixture('spin');
  const id = taskId('offline');
  await harness.submit(wasmTask(id, spin, { params: { args: ['2000'] } }));
  // Running in the tab, not only "running" at the coordinator (the assignment frame may still be in flight).
  await expect(page.locator(`#running li[data-task-id="${id}"]`)).toBeVisible();
  await page.context().setOffline(true);
  await page.evaluate(() =>
    (globalThis as unknown as { flockVolunteer: { dropConnection(): void } }).flockVolunteer.dropConnection(),
  );
  // The job finishes with nobody to tell: the outcome waits in IndexedDB.
  await expect(page.locator('#last-task')).toHaveText(`${id}: ok (wasm-wasi)`);
  await expect.poll(() => pendingInTab(page)).toEqual({ assignments: 0, outcomes: 1 });
  expect((await harness.task(id)).state).toBe('running');
  await page.context().setOffline(false);
  const view = await harness.waitFor(id, 'succeeded');
  expect(view.attempts).toHaveLength(1);
  expect(outputBytes(await harness.result(id), 'stdout').toString()).toBe('spun 2000 ms\n');
  await expect.poll(() => pendingInTab(page)).toEqual({ assignments: 0, outcomes: 0 });
});

test('pause, GPU on/off and "only while visible" reach the coordinator, and the settings survive a reload', async () => {
  const capability = async () =>
    (
      await harness.api<{ workers: Array<{ connected: boolean; capability: Record<string, unknown> }> }>(
        'GET',
        '/v1/workers',
      )
    ).body.workers.find((w) => w.connected)?.capability ?? {};
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.locator('#state')).toHaveText('paused by the volunteer');
  await expect.poll(async () => (await capability())['paused']).toBe(true);
  const queued = taskId('while-paused');
  await harness.submit(wasmTask(queued, await wasmFixture('empty')));
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect.poll(async () => (await capability())['paused'] ?? false).toBe(false);
  await harness.waitFor(queued, 'succeeded');

  // GPU off: no GPU slot, no WebGPU in the capability; on again: both back.
  await page.getByLabel('Use the GPU (WebGPU)').uncheck();
  await expect
    .poll(async () => [(await capability())['webgpu'] ?? false, (await capability())['gpu_slots'] ?? 0])
    .toEqual([false, 0]);
  await page.getByLabel('Use the GPU (WebGPU)').check();
  await expect
    .poll(async () => [(await capability())['webgpu'], (await capability())['gpu_slots']])
    .toEqual([true, 1]);

  await page.getByLabel('Only while this tab is visible').check();
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await expect(page.locator('#state')).toHaveText('waiting for the tab to be visible');
  await expect.poll(async () => (await capability())['paused']).toBe(true);
  await expect.poll(async () => (await capability())['visible'] ?? false).toBe(false);

  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await expect(page.getByLabel('Only while this tab is visible')).toBeChecked();
  await page.getByLabel('Only while this tab is visible').uncheck();
  await expect(page.locator('#state')).toHaveText('waiting for work');
  await expect.poll(async () => (await capability())['paused'] ?? false).toBe(false);
});
