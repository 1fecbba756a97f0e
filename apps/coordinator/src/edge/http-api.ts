import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ComputeEnvelope,
  decodeMessage,
  decodeUtf8Strict,
  fromJson,
  ProtocolError,
  parseEnvelopeJson,
  parseJsonText,
  toJson,
  type VerificationPolicy,
  validateEnvelope,
} from '@flock/protocol';
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator } from '../engine/coordinator.ts';
import { CoordinatorError } from '../errors.ts';
import { blobHex } from '../store/blob-store.ts';
import { TASK_STATES, type TaskRecord, type TaskState } from '../store/store.ts';
import { resolvePolicy, TrustError } from '../trust/index.ts';
import type { ApiKeys } from './api-keys.ts';
import { ModuleMeter } from './module-meter.ts';
import { servePage } from './static-pages.ts';
import { taskView } from './task-view.ts';

/** Tasks one campaign request may carry. */
export const MAX_CAMPAIGN_TASKS = 10_000;
/** Largest page of `GET /v1/tasks`. */
export const MAX_LIST_LIMIT = 1000;

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

type Handler = (req: IncomingMessage, res: ServerResponse, tenant: string, parts: string[]) => Promise<void>;

/**
 * The requester REST API (Contract B) on `node:http`: JSON view or `application/x-capnp` bodies,
 * bearer API keys per tenant, errors as `{ error: { code, message, field? } }`.
 */
export class HttpApi {
  constructor(
    private readonly coordinator: Coordinator,
    private readonly keys: ApiKeys,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
  ) {
    this.meter = new ModuleMeter({
      blobs: coordinator.blobs,
      store: coordinator.store,
      maxModuleBytes: config.maxBodyBytes,
      remoteModules: config.remoteModules,
    });
  }

  /** Instruments the WASM modules of submitted tasks with fuel (module-meter.ts). */
  private readonly meter: ModuleMeter;

  /** Stops what the API runs beside requests (the fuel instrumenting thread). */
  close(): Promise<void> {
    return this.meter.close();
  }

  /** The request listener for the HTTP server. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('finish', () =>
      this.coordinator.metrics.http.inc({ method: req.method ?? '', status: res.statusCode }),
    );
    this.route(req, res).catch((err: unknown) => this.fail(res, err));
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      const registry = this.coordinator.metrics.registry;
      const text = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType });
      res.end(text);
      return;
    }
    if (!path.startsWith('/v1/')) {
      if (method !== 'GET' && method !== 'HEAD')
        throw new CoordinatorError('METHOD_NOT_ALLOWED', `${method} ${path}`);
      return servePage(this.config.pagesDir, path, res, ISOLATION);
    }
    const parts = path.split('/').slice(2).map(decodeSegment);
    // Modules are fetched by volunteer tabs, which hold no API key: public by content hash.
    if (parts[0] === 'modules' && parts.length === 2 && method === 'GET')
      return this.getModule(res, parts[1]!);
    // A lease's uploaded inputs, for the tab holding it (its task token instead of a key).
    if (parts[0] === 'leases' && parts.length === 4 && parts[2] === 'inputs' && method === 'GET')
      return this.getLeaseInput(req, res, parts[1]!, parts[3]!);

    const tenant = this.keys.tenantOf(bearer(req));
    if (tenant === undefined) throw new CoordinatorError('UNAUTHENTICATED', 'a valid API key is required');
    const handler = this.pick(method, parts);
    if (!handler) {
      const known = ['tasks', 'campaigns', 'modules', 'blobs', 'workers', 'stats'].includes(parts[0] ?? '');
      throw new CoordinatorError(known ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', `${method} ${path}`);
    }
    return handler(req, res, tenant, parts);
  }

  private pick(method: string, parts: string[]): Handler | undefined {
    const [head, , sub] = parts;
    const n = parts.length;
    if (head === 'tasks') {
      if (n === 1 && method === 'POST') return this.createTask;
      if (n === 1 && method === 'GET') return this.listTasks;
      if (n === 2 && method === 'GET') return this.getTask;
      if (n === 2 && method === 'DELETE') return this.cancelTask;
      if (n === 3 && sub === 'result' && method === 'GET') return this.getResult;
    }
    if (head === 'campaigns') {
      if (n === 1 && method === 'POST') return this.createCampaign;
      if (n === 2 && method === 'GET') return this.getCampaign;
    }
    if (head === 'modules' && n === 1 && method === 'POST') return this.uploadModule;
    if (head === 'blobs' && n === 1 && method === 'POST') return this.uploadBlob;
    if (head === 'blobs' && n === 2 && method === 'GET') return this.getBlob;
    if (head === 'workers' && n === 1 && method === 'GET') return this.listWorkers;
    if (head === 'stats' && n === 1 && method === 'GET') return this.stats;
    return undefined;
  }

  /** The task view; `fresh` tasks were just created (no attempts yet); `memo` is per request. */
  private async view(
    task: TaskRecord,
    options: { fresh?: boolean; memo?: Map<string, string> } = {},
  ): Promise<ReturnType<typeof taskView>> {
    const attempts = options.fresh ? [] : await this.coordinator.store.listAttempts(task.uid);
    const view = taskView(task, attempts, this.coordinator.waitingReason(task.uid, options.memo));
    // Verified tasks (#9): the engine's state. Only tasks whose envelope has a policy are looked up
    // (a lookup is a query, and most tasks have none).
    const verified = Buffer.from(
      task.envelope.buffer,
      task.envelope.byteOffset,
      task.envelope.byteLength,
    ).includes('"verification"');
    const v = verified
      ? await this.coordinator.trust.status(String(task.uid)).catch(() => undefined)
      : undefined;
    if (v) {
      view.verification = {
        state: v.state,
        mode: v.mode,
        quorum: v.quorum,
        max_replicas: v.maxReplicas,
        dispatched: v.dispatched,
        running: v.running,
        returned: v.returned,
        agreeing: v.agreeing,
        workers: v.workers,
      };
      if (v.acceptedBy) view.verification.accepted_by = v.acceptedBy;
    }
    return view;
  }

  /** A `flock:sha256:<hex>` module must have been uploaded (POST /v1/modules) first. */
  private async checkModule(envelope: ComputeEnvelope, field: string): Promise<void> {
    const uri = envelope.module?.uri;
    if (!uri?.startsWith('flock:')) return;
    const name = uri.slice('flock:'.length);
    if (!blobHex(name) || !(await this.coordinator.store.isModule(name))) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `module ${uri} was not uploaded (POST /v1/modules)`,
        field,
      );
    }
  }

  /**
   * Inputs named `flock:sha256:<hex>` must be blobs the tenant may read: uploaded with
   * POST /v1/blobs, or outputs of its own tasks.
   */
  private async checkInputs(envelope: ComputeEnvelope, tenant: string, prefix: string): Promise<void> {
    for (const [i, input] of (envelope.inputs ?? []).entries()) {
      const uri = input.uri;
      if (!uri?.startsWith('flock:')) continue;
      const name = uri.slice('flock:'.length);
      if (!blobHex(name) || !(await this.coordinator.store.blobVisible(name, tenant))) {
        throw new CoordinatorError(
          'INVALID_ARGUMENT',
          `input ${uri} is not a blob of this tenant (upload it with POST /v1/blobs)`,
          `${prefix}inputs[${i}].uri`,
        );
      }
    }
  }

  private async findTask(tenant: string, taskId: string): Promise<TaskRecord> {
    const task = await this.coordinator.store.getTask(tenant, taskId);
    if (!task) throw new CoordinatorError('NOT_FOUND', `no task "${taskId}"`);
    return task;
  }

  private createTask: Handler = async (req, res, tenant) => {
    const body = await readBody(req, this.config.maxBodyBytes);
    const type = mediaType(req);
    let envelope: ComputeEnvelope;
    if (type === 'application/json')
      envelope = parseEnvelopeJson(decodeUtf8Strict(body, '$'), { maxBytes: this.config.maxBodyBytes });
    else if (type === 'application/x-capnp') {
      envelope = decodeMessage('ComputeEnvelope', body, { maxFrameBytes: this.config.maxBodyBytes });
      validateEnvelope(envelope);
    } else
      throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json or application/x-capnp');
    await this.checkModule(envelope, 'module.uri');
    await this.checkInputs(envelope, tenant, '');
    await this.meter.meter(envelope);
    const [outcome] = await this.coordinator.submit([{ tenant, envelope }]);
    if (!outcome || outcome.kind === 'conflict' || outcome.kind === 'skipped') {
      throw new CoordinatorError(
        'CONFLICT',
        `task "${envelope.task_id}" exists with different content`,
        'task_id',
      );
    }
    json(res, outcome.kind === 'created' ? 201 : 200, await this.view(outcome.task));
  };

  private createCampaign: Handler = async (req, res, tenant) => {
    if (mediaType(req) !== 'application/json')
      throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/json');
    const body = await readBody(req, this.config.maxBodyBytes);
    const value = parseJsonText(
      decodeUtf8Strict(body, '$'),
      { maxBytes: this.config.maxBodyBytes, maxDepth: 128 },
      '$',
    );
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CoordinatorError('INVALID_ARGUMENT', 'body must be an object', '$');
    }
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (key !== 'campaign_id' && key !== 'tasks' && key !== 'verification')
        throw new CoordinatorError('INVALID_ARGUMENT', `unknown field "${key}"`, key);
    }
    // A campaign-wide verification policy: the default of every task that sets none.
    let policy: VerificationPolicy | undefined;
    if (obj.verification !== undefined) {
      try {
        policy = fromJson('VerificationPolicy', obj.verification);
        resolvePolicy(policy);
      } catch (err) {
        if (err instanceof ProtocolError) {
          throw new CoordinatorError(
            'INVALID_ARGUMENT',
            err.message,
            `verification${err.field ? `.${err.field}` : ''}`,
          );
        }
        if (err instanceof TrustError) throw new CoordinatorError('INVALID_ARGUMENT', err.message, err.field);
        throw err;
      }
    }
    let campaignId = obj.campaign_id;
    if (campaignId === undefined) campaignId = `c-${randomBytes(9).toString('base64url')}`;
    if (typeof campaignId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/.test(campaignId)) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        'campaign_id: 1-128 of A-Z a-z 0-9 . _ : @ -',
        'campaign_id',
      );
    }
    const tasks = obj.tasks;
    if (!Array.isArray(tasks) || tasks.length === 0 || tasks.length > MAX_CAMPAIGN_TASKS) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `tasks must be an array of 1..${MAX_CAMPAIGN_TASKS} envelopes`,
        'tasks',
      );
    }
    const seen = new Set<string>();
    const envelopes = tasks.map((raw, i) => {
      try {
        const envelope = fromJson('ComputeEnvelope', raw);
        if (envelope.campaign_id && envelope.campaign_id !== campaignId) {
          throw new CoordinatorError(
            'INVALID_ARGUMENT',
            'campaign_id differs from the campaign',
            'campaign_id',
          );
        }
        envelope.campaign_id = campaignId as string;
        if (policy && !envelope.verification) envelope.verification = structuredClone(policy);
        validateEnvelope(envelope);
        if (seen.has(envelope.task_id!))
          throw new CoordinatorError('INVALID_ARGUMENT', 'duplicate task_id', 'task_id');
        seen.add(envelope.task_id!);
        return envelope;
      } catch (err) {
        if (err instanceof ProtocolError || err instanceof CoordinatorError) {
          const field = `tasks[${i}]${err.field ? `.${err.field}` : ''}`;
          if (err instanceof ProtocolError) throw new ProtocolError(err.code, err.message, field);
          throw new CoordinatorError(err.code, err.message, field);
        }
        throw err;
      }
    });
    for (const [i, envelope] of envelopes.entries()) {
      await this.checkModule(envelope, `tasks[${i}].module.uri`);
      await this.checkInputs(envelope, tenant, `tasks[${i}].`);
      await this.meter.meter(envelope, `tasks[${i}].`);
    }
    const outcomes = await this.coordinator.submit(
      envelopes.map((envelope, i) => ({ tenant, envelope, field: `tasks[${i}]` })),
    );
    const conflicts = outcomes.filter((o) => o.kind === 'conflict');
    if (conflicts.length > 0) {
      const ids = conflicts.map((o) => (o.kind === 'conflict' ? o.taskId : '')).slice(0, 10);
      throw new CoordinatorError(
        'CONFLICT',
        `tasks exist with different content: ${ids.join(', ')}`,
        'tasks',
      );
    }
    const views = [];
    const memo = new Map<string, string>();
    for (const o of outcomes) {
      if (o.kind !== 'created' && o.kind !== 'existing') continue;
      views.push(await this.view(o.task, { fresh: o.kind === 'created', memo }));
    }
    const created = outcomes.some((o) => o.kind === 'created');
    json(res, created ? 201 : 200, { campaign_id: campaignId, tasks: views });
  };

  private getCampaign: Handler = async (_req, res, tenant, parts) => {
    const campaignId = parts[1]!;
    const store = this.coordinator.store;
    const counts = await store.countByState(tenant, campaignId);
    if (Object.values(counts).every((n) => n === 0))
      throw new CoordinatorError('NOT_FOUND', `no campaign "${campaignId}"`);
    const tasks = await store.listTasks(tenant, { campaignId, limit: MAX_CAMPAIGN_TASKS });
    const views = [];
    const memo = new Map<string, string>();
    for (const task of tasks) views.push(await this.view(task, { memo }));
    json(res, 200, { campaign_id: campaignId, counts, tasks: views });
  };

  private getTask: Handler = async (_req, res, tenant, parts) => {
    json(res, 200, await this.view(await this.findTask(tenant, parts[1]!)));
  };

  private listTasks: Handler = async (req, res, tenant) => {
    const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const state = q.get('state') ?? undefined;
    if (state !== undefined && !TASK_STATES.includes(state as TaskState)) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `state must be one of ${TASK_STATES.join(', ')}`,
        'state',
      );
    }
    const limitText = q.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new CoordinatorError('INVALID_ARGUMENT', `limit must be 1..${MAX_LIST_LIMIT}`, 'limit');
    }
    const after = q.get('after');
    let afterUid = 0;
    if (after !== null) {
      afterUid = Number(Buffer.from(after, 'base64url').toString('utf8'));
      if (!Number.isSafeInteger(afterUid) || afterUid < 0)
        throw new CoordinatorError('INVALID_ARGUMENT', 'bad cursor', 'after');
    }
    const tasks = await this.coordinator.store.listTasks(tenant, {
      state: state as TaskState | undefined,
      campaignId: q.get('campaign_id') ?? undefined,
      afterUid,
      limit,
    });
    const views = [];
    const memo = new Map<string, string>();
    for (const task of tasks) views.push(await this.view(task, { memo }));
    const body: Record<string, unknown> = { tasks: views };
    if (tasks.length === limit)
      body.next = Buffer.from(String(tasks[tasks.length - 1]!.uid)).toString('base64url');
    json(res, 200, body);
  };

  private getResult: Handler = async (_req, res, tenant, parts) => {
    const task = await this.findTask(tenant, parts[1]!);
    if (task.state !== 'succeeded' || !task.result) {
      throw new CoordinatorError('NOT_READY', `task is ${task.state}`);
    }
    // Stored as its JSON view already.
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': task.result.byteLength,
    });
    res.end(task.result);
  };

  private cancelTask: Handler = async (_req, res, tenant, parts) => {
    const task = await this.findTask(tenant, parts[1]!);
    const previous = await this.coordinator.cancel(task, 'cancelled by requester');
    if (previous === undefined) throw new CoordinatorError('ALREADY_FINISHED', `task is ${task.state}`);
    json(res, 200, await this.view((await this.coordinator.store.getTaskByUid(task.uid))!));
  };

  private uploadModule: Handler = async (req, res, tenant) => {
    const type = mediaType(req);
    if (type !== 'application/wasm' && type !== 'text/wgsl') {
      throw new CoordinatorError('UNSUPPORTED_MEDIA_TYPE', 'use application/wasm or text/wgsl');
    }
    const body = await readBody(req, this.config.maxBodyBytes);
    if (body.length === 0) throw new CoordinatorError('INVALID_ARGUMENT', 'module is empty', 'body');
    if (type === 'application/wasm' && !isWasm(body)) {
      throw new CoordinatorError('INVALID_ARGUMENT', 'not a WebAssembly binary (bad magic)', 'body');
    }
    // Refused now if it could never be metered; its instrumented form is then ready for tasks.
    const metered = type === 'application/wasm' ? await this.meter.meterUpload(body) : undefined;
    const hex = this.coordinator.blobs.put(body);
    const hash = `sha256:${hex}`;
    await this.coordinator.store.recordBlob(hash, tenant, 'module', body.length, Date.now());
    // metered_hash: what tabs will run (the module instrumented with fuel), for tasks naming `uri`.
    json(res, 201, {
      hash,
      size: body.length,
      uri: `flock:${hash}`,
      ...(metered ? { metered_hash: metered.hash } : {}),
    });
  };

  /** Any bytes, to be named as a task input (`uri: "flock:sha256:<hex>"`): content-addressed. */
  private uploadBlob: Handler = async (req, res, tenant) => {
    const body = await readBody(req, this.config.maxBodyBytes);
    const hex = this.coordinator.blobs.put(body);
    const hash = `sha256:${hex}`;
    await this.coordinator.store.recordBlob(hash, tenant, 'input', body.length, Date.now());
    json(res, 201, { hash, size: body.length, uri: `flock:${hash}` });
  };

  /**
   * An uploaded input of a live lease, for the tab that holds it: the lease's task token (header
   * `X-Flock-Task-Token`) stands in for an API key, and only inputs the task names are served.
   * Anything else is 404, so a guesser learns nothing.
   */
  private async getLeaseInput(
    req: IncomingMessage,
    res: ServerResponse,
    leaseId: string,
    name: string,
  ): Promise<void> {
    const token = req.headers['x-flock-task-token'];
    const hex = blobHex(name);
    const bytes =
      hex && typeof token === 'string' && this.coordinator.leaseMayRead(leaseId, token, name)
        ? this.coordinator.blobs.read(hex)
        : undefined;
    if (!bytes) throw new CoordinatorError('NOT_FOUND', `no input "${name}" for this lease`);
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': bytes.length,
      'Cache-Control': 'private, no-store',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    res.end(bytes);
  }

  private async getModule(res: ServerResponse, name: string): Promise<void> {
    const hex = blobHex(name);
    if (!hex || !(await this.coordinator.store.isModule(name)))
      throw new CoordinatorError('NOT_FOUND', `no module "${name}"`);
    const bytes = this.coordinator.blobs.read(hex);
    if (!bytes) throw new CoordinatorError('NOT_FOUND', `no module "${name}"`);
    res.writeHead(200, {
      'Content-Type': isWasm(bytes) ? 'application/wasm' : 'text/wgsl; charset=utf-8',
      'Content-Length': bytes.length,
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: `"${name}"`,
      // Content-addressed and public by hash: pages on allowed origins may embed it.
      'Cross-Origin-Resource-Policy': 'cross-origin',
    });
    res.end(bytes);
  }

  private getBlob: Handler = async (_req, res, tenant, parts) => {
    const name = parts[1]!;
    const hex = blobHex(name);
    if (!hex || !(await this.coordinator.store.blobVisible(name, tenant))) {
      throw new CoordinatorError('NOT_FOUND', `no blob "${name}"`);
    }
    const bytes = this.coordinator.blobs.read(hex);
    if (!bytes) throw new CoordinatorError('NOT_FOUND', `no blob "${name}"`);
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': bytes.length,
      'Cache-Control': 'private, max-age=31536000, immutable',
      ETag: `"${name}"`,
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    res.end(bytes);
  };

  /** Known volunteers by worker id, a page at a time: `?limit=` (1..1000, default 100), `?after=<id>`. */
  private listWorkers: Handler = async (req, res) => {
    const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const limitText = q.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new CoordinatorError('INVALID_ARGUMENT', `limit must be 1..${MAX_LIST_LIMIT}`, 'limit');
    }
    const after = q.get('after') ?? '';
    const page = [...this.coordinator.workers.values()]
      .filter((w) => w.workerId > after)
      .sort((a, b) => (a.workerId < b.workerId ? -1 : 1))
      .slice(0, limit);
    const workers = await Promise.all(
      page.map(async (w) => {
        // Credit (#9): device-weighted compute seconds of validated results.
        const standing = await this.coordinator.trust.standing(w.workerId);
        return {
          worker_id: w.workerId,
          connected: w.link !== undefined,
          capability: toJson('Capability', w.capability),
          running: w.runningCpu + w.runningGpu,
          tasks_succeeded: w.succeeded,
          tasks_failed: w.failed,
          connected_at_ms: w.connectedAtMs,
          last_seen_ms: w.lastSeenMs,
          credit: standing.credit,
          pending_credit: standing.pendingCredit,
          valid_results: standing.validResults,
          invalid_results: standing.invalidResults,
          checks_passed: standing.checksPassed,
          checks_failed: standing.checksFailed,
          vetted: standing.vetted,
          quarantined: standing.quarantined,
        };
      }),
    );
    const body: Record<string, unknown> = { workers };
    if (page.length === limit) body.next = page[page.length - 1]!.workerId;
    json(res, 200, body);
  };

  private stats: Handler = async (_req, res) => {
    const c = this.coordinator;
    const recent = c.recentStats();
    json(res, 200, {
      queue_depth: c.queueDepth(),
      running: c.runningCount(),
      workers: c.connectedWorkers().length,
      throughput_per_min: recent.throughputPerMin,
      latency_ms: { p50: recent.p50, p95: recent.p95, p99: recent.p99 },
    });
  };

  private fail(res: ServerResponse, err: unknown): void {
    let status = 500;
    let body: { code: string; message: string; field?: string } = {
      code: 'INTERNAL',
      message: 'internal error',
    };
    if (err instanceof CoordinatorError) {
      status = err.httpStatus;
      body = { code: err.code, message: err.message };
      if (err.field !== undefined) body.field = err.field;
    } else if (err instanceof ProtocolError) {
      status = 400;
      body = { code: err.code, message: err.message };
      if (err.field !== undefined) body.field = err.field;
    } else {
      this.log.error({ err }, 'request failed');
    }
    this.coordinator.metrics.errors.inc({ code: body.code });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The rest of an over-limit body is not read: the connection closes after the answer.
    if (body.code === 'BODY_TOO_LARGE') res.setHeader('Connection', 'close');
    json(res, status, { error: body });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new CoordinatorError('INVALID_ARGUMENT', 'malformed percent-encoding in the path', 'path');
  }
}

function bearer(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (!auth?.startsWith('Bearer ')) return undefined;
  return auth.slice('Bearer '.length).trim();
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

/**
 * Reads a request body up to `limit` bytes; over it: 413 BODY_TOO_LARGE, and the error answer
 * closes the connection (the rest of the body is never read).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    return Promise.reject(new CoordinatorError('BODY_TOO_LARGE', `body over ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new CoordinatorError('BODY_TOO_LARGE', `body over ${limit} bytes`));
        req.removeAllListeners('data');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
