// Shared setup of the volunteer-page specs: the pages built by the root vite.config.ts into a temp
// dir, a real in-process coordinator (SQLite, port 0) serving them, and a REST client (contract B).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { expect } from '@playwright/test';
import { build } from 'vite';

export const ROOT = resolve(import.meta.dirname, '../..');
export const ARTIFACTS = join(ROOT, 'e2e/artifacts');
const FIXTURES = join(ROOT, 'apps/worker-web/build/fixtures');
export const KEY = 'volunteer-e2e-key';
/** A key of KEY's tenant with the scope `read` only (for refusals: 403 `FORBIDDEN`). */
export const READ_ONLY_KEY = 'volunteer-e2e-reader';

/** A compiled fixture (apps/worker-web/scripts/build-fixtures.sh) and its sha256 reference. */
export async function wasmFixture(
  name: string,
): Promise<{ bytes: Uint8Array; hash: string; base64: string }> {
  const bytes = new Uint8Array(await readFile(join(FIXTURES, `${name}.wasm`)));
  return {
    bytes,
    hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    base64: Buffer.from(bytes).toString('base64'),
  };
}

export interface TaskView {
  task_id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  failure?: { code: string; message: string };
  attempts: Array<{
    attempt: number;
    worker_id: string;
    lease_id: string;
    started_at_ms: number;
    ended_at_ms?: number;
    outcome?: string;
    code?: string;
  }>;
  executor?: string;
  progress?: { pct: number };
}

export interface ResultView {
  task_id: string;
  executor?: string;
  outputs?: Array<{
    name: string;
    content_type?: string;
    inline_bytes?: string;
    uri?: string;
    size?: number;
    /** A tensor output's dtype and shape (ml.*). */
    tensor?: { dtype: string; shape: number[] };
  }>;
  summary?: Record<string, string>;
  metrics?: Record<string, string>;
}

/** A coordinator plus the built pages, torn down by `close`. */
export class Harness {
  private constructor(
    readonly coordinator: RunningCoordinator,
    private readonly workDir: string,
  ) {}

  static async start(
    config: { leaseMs?: number; heartbeatMs?: number; allowedOrigins?: string[]; maxBodyBytes?: number } = {},
  ) {
    const workDir = await mkdtemp(join(tmpdir(), 'flock-volunteer-e2e-'));
    const pagesDir = join(workDir, 'pages');
    await build({
      configFile: join(ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: pagesDir, emptyOutDir: true },
    });
    const coordinator = await startCoordinator({
      port: 0,
      dataDir: join(workDir, 'data'),
      pagesDir,
      apiKeys: new Map([
        [KEY, 'volunteers-e2e'],
        [READ_ONLY_KEY, 'volunteers-e2e'],
      ]),
      keyScopes: new Map([[READ_ONLY_KEY, ['read']]]),
      logLevel: 'silent',
      leaseMs: config.leaseMs ?? 15_000,
      heartbeatMs: config.heartbeatMs ?? 1_000,
      retryBaseMs: 100,
      ...(config.allowedOrigins ? { allowedOrigins: config.allowedOrigins } : {}),
      ...(config.maxBodyBytes ? { maxBodyBytes: config.maxBodyBytes } : {}),
    });
    return new Harness(coordinator, workDir);
  }

  get url(): string {
    return this.coordinator.url;
  }

  /** Where the coordinator keeps the blob named `hash` (sha256:<hex>), for tests that damage one. */
  blobPath(hash: string): string {
    const hex = hash.slice('sha256:'.length);
    return join(this.workDir, 'data', 'blobs', 'sha256', hex.slice(0, 2), hex);
  }

  get pagesDir(): string {
    return join(this.workDir, 'pages');
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  /** POST /v1/tasks; asserts 201. */
  async submit(envelope: Record<string, unknown>): Promise<TaskView> {
    const { status, body } = await this.api<TaskView>('POST', '/v1/tasks', envelope);
    expect(status, JSON.stringify(body)).toBe(201);
    return body;
  }

  /** POST /v1/modules (a WASM or WGSL module, an ONNX model); asserts 201, returns its `flock:` uri. */
  uploadModule(bytes: Uint8Array, contentType: string): Promise<string> {
    return this.upload('modules', bytes, contentType);
  }

  /** POST /v1/blobs (a task input, named by `uri`); asserts 201, returns its `flock:` uri. */
  uploadBlob(bytes: Uint8Array): Promise<string> {
    return this.upload('blobs', bytes, 'application/octet-stream');
  }

  private async upload(to: 'modules' | 'blobs', bytes: Uint8Array, contentType: string): Promise<string> {
    const response = await fetch(`${this.url}/v1/${to}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': contentType },
      body: Buffer.from(bytes),
    });
    const body = (await response.json()) as { uri: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    return body.uri;
  }

  async task(taskId: string): Promise<TaskView> {
    return (await this.api<TaskView>('GET', `/v1/tasks/${taskId}`)).body;
  }

  /** Polls until the task reaches `state` (or any final state, then fails with its view). */
  async waitFor(taskId: string, state: TaskView['state'], timeout = 30_000): Promise<TaskView> {
    let view: TaskView | undefined;
    await expect
      .poll(
        async () => {
          view = await this.task(taskId);
          return view.state;
        },
        { timeout, message: `task ${taskId} to be ${state}` },
      )
      .toBe(state);
    return view!;
  }

  async result(taskId: string): Promise<ResultView> {
    const { status, body } = await this.api<ResultView>('GET', `/v1/tasks/${taskId}/result`);
    expect(status).toBe(200);
    return body;
  }

  /** An output's bytes: inline in the result, or (streamed from the tab's arena) a stored blob. */
  async output(result: ResultView, name: string): Promise<Uint8Array> {
    const output = result.outputs?.find((o) => o.name === name);
    if (output?.inline_bytes) return new Uint8Array(Buffer.from(output.inline_bytes, 'base64'));
    expect(output?.uri, `output ${name}`).toMatch(/^\/v1\/blobs\/sha256:[0-9a-f]{64}$/);
    const response = await fetch(`${this.url}${output!.uri}`, {
      headers: { Authorization: `Bearer ${KEY}` },
    });
    expect(response.status).toBe(200);
    return new Uint8Array(await response.arrayBuffer());
  }

  async close(): Promise<void> {
    await this.coordinator.close();
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/** A file as one input of a library task. */
export interface NamedFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

/** A library task envelope (JSON view) over `files`, each inline under its own name. */
export function libraryTask(
  id: string,
  op: string,
  params: unknown,
  files: readonly NamedFile[],
  extra: Record<string, unknown> = {},
) {
  return {
    task_id: id,
    op,
    module: { kind: 'library' },
    params,
    requirements: { min: { wasm: true } },
    inputs: files.map((f) => ({
      name: f.name,
      content_type: f.contentType,
      inline_bytes: Buffer.from(f.bytes).toString('base64'),
    })),
    ...extra,
  };
}

/** Decodes an inline output of a result view. */
export function outputBytes(result: ResultView, name: string): Buffer {
  const output = result.outputs?.find((o) => o.name === name);
  if (!output?.inline_bytes)
    throw new Error(`no inline output ${name} in ${JSON.stringify(result.outputs?.map((o) => o.name))}`);
  return Buffer.from(output.inline_bytes, 'base64');
}

let counter = 0;
/** A unique task id. */
export function taskId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
}

/** A WASM task envelope (JSON view) with the module inline. */
export function wasmTask(
  id: string,
  module: { base64: string; hash: string },
  options: {
    abi?: 'wasi' | 'kernel';
    permissions?: Record<string, unknown>;
    inputs?: Array<{ name: string; content_type?: string; inline_bytes: string }>;
    params?: Record<string, unknown>;
    hash?: string;
  } = {},
): Record<string, unknown> {
  return {
    task_id: id,
    op: 'wasm-run',
    module: {
      kind: 'wasm',
      inline: module.base64,
      hash: options.hash ?? module.hash,
      abi: options.abi ?? 'wasi',
      permissions: { wasi_fs: true, ...options.permissions },
    },
    requirements: { min: { wasm: true } },
    inputs: options.inputs ?? [],
    params: options.params ?? {},
  };
}
