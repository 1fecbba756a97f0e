import {
  type ComputeEnvelope,
  type ComputeResult,
  type DataRef,
  encodeMessage,
  fromJson,
  type JsonObject,
  type ModuleSpec,
  toJson,
} from '@flock/protocol';
import type {
  BreakerView,
  CampaignView,
  CreatedKey,
  KeyView,
  ModuleRef,
  StatsView,
  TaskPage,
  TaskQuery,
  TaskView,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryQuery,
  WorkerView,
} from './api-types.ts';
import type { AuditPage, AuditQuery, ReplaySource, ReplayStatus, ReplayView } from './audit-types.ts';
import { dataRefBytes, readBlob, uploadBlob, uploadModule } from './blob-calls.ts';
import { EventStream, type WebSocketConstructor } from './event-stream.ts';
import { FlockError } from './flock-error.ts';
import { type FetchLike, HttpTransport } from './http-transport.ts';
import {
  type LibraryFile,
  type LibraryMapOptions,
  type LibraryOp,
  type LibraryParams,
  type LibraryTaskOptions,
  mapLibrary,
  submitLibrary,
} from './library-calls.ts';
import { type MapInput, type MapOptions, type MapOutcome, mapTasks } from './map-tasks.ts';
import type { KeyRequest } from './operator-calls.ts';
import * as operator from './operator-calls.ts';
import { signBody, signEnvelope } from './sign-envelope.ts';
import { Task, type TaskBackend } from './task.ts';
import { mapTensors, type TensorFile, type TensorMapOptions, type TensorOutcome } from './tensor-batches.ts';
import * as webhooks from './webhook-calls.ts';
import { Workflow, type WorkflowBackend, type WorkflowView } from './workflow.ts';

export interface FlockClientOptions {
  /** The coordinator's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** A requester API key (`FLOCK_API_KEYS` on the coordinator). */
  apiKey: string;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  /**
   * The WebSocket used for `/v1/events`: defaults to the global one (browsers, Node 22+); in
   * Node 20 pass `WebSocket` from the `ws` package. `null`: never open a socket, poll instead.
   */
  WebSocket?: WebSocketConstructor | null;
  /** Per-request time limit in ms; default 30 000. */
  timeoutMs?: number;
  /**
   * A request refused for now (429 `RATE_LIMITED` or `QUOTA_EXCEEDED`, 503 `QUEUE_FULL` or
   * `STORE_UNAVAILABLE`: nothing of it was stored) is sent again after its `Retry-After`, while one call's waits add up to at
   * most this many ms; then, or with a longer `Retry-After`, the FlockError is thrown. 0: never
   * wait. Default 60 000.
   */
  throttleWaitMs?: number;
  /** Told before each such wait (the error and the wait in ms): the CLI prints it. */
  onThrottle?: (error: FlockError, waitMs: number) => void;
  /**
   * The key's signing secret: `submit` and `submitCampaign` then sign each envelope
   * (`signEnvelope`, its `security.task_token`) before sending it.
   */
  signingSecret?: string | undefined;
}

export interface SubmitOptions {
  /** Body format: the JSON view (default) or a bare Cap'n Proto ComputeEnvelope. */
  format?: 'json' | 'capnp';
  /**
   * A W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<flags>`): tasks without their own
   * `correlation_id` join that trace (their results, events and frames name it). An invalid one is
   * ignored by the coordinator, which then mints a trace id.
   */
  traceparent?: string | undefined;
}

const traceHeaders = (traceparent: string | undefined) =>
  traceparent === undefined ? undefined : { traceparent };

/**
 * The requester SDK: submit compute tasks to a Flock coordinator, watch them, cancel them and
 * fetch their results. Runs in browsers and in Node 20+.
 */
export class FlockClient implements TaskBackend, WorkflowBackend {
  readonly url: string;
  readonly #http: HttpTransport;
  readonly #apiKey: string;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #signingSecret: string | undefined;

  constructor(options: FlockClientOptions) {
    if (!/^https?:\/\//.test(options.url)) {
      throw new FlockError(
        'INVALID_ARGUMENT',
        `url must start with http:// or https://, got "${options.url}"`,
      );
    }
    if (options.apiKey === '') throw new FlockError('INVALID_ARGUMENT', 'apiKey is empty');
    const throttleWaitMs = options.throttleWaitMs ?? 60_000;
    if (!(throttleWaitMs >= 0 && Number.isFinite(throttleWaitMs)))
      throw new FlockError(
        'INVALID_ARGUMENT',
        `throttleWaitMs must be a number of ms ≥ 0, got ${throttleWaitMs}`,
      );
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (fetchImpl === undefined)
      throw new FlockError('INVALID_ARGUMENT', 'no global fetch: pass options.fetch');
    this.#http = new HttpTransport(options.url, options.apiKey, fetchImpl, options.timeoutMs ?? 30_000, {
      waitMs: throttleWaitMs,
      onWait: options.onThrottle,
    });
    this.url = this.#http.baseUrl;
    this.#apiKey = options.apiKey;
    const globalSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.#WebSocket = options.WebSocket === null ? undefined : (options.WebSocket ?? globalSocket);
    this.#signingSecret = options.signingSecret || undefined;
  }

  /** `envelope`, signed when the client has a signing secret. */
  #signed(envelope: ComputeEnvelope): Promise<ComputeEnvelope> | ComputeEnvelope {
    return this.#signingSecret === undefined ? envelope : signEnvelope(envelope, this.#signingSecret);
  }

  /** Checks the key against the coordinator; throws `UNAUTHENTICATED` (401) for a bad one. */
  async checkKey(): Promise<void> {
    await this.#http.json<TaskPage>('GET', '/v1/tasks', { query: { limit: 1 } });
  }

  /**
   * Submits one task (`POST /v1/tasks`). Idempotent on `task_id`: the same content again returns
   * the same task; different content under the same id is `CONFLICT`.
   */
  async submit(unsigned: ComputeEnvelope, options: SubmitOptions = {}): Promise<Task> {
    const envelope = await this.#signed(unsigned);
    const view =
      options.format === 'capnp'
        ? await this.#http.json<TaskView>('POST', '/v1/tasks', {
            body: encodeMessage('ComputeEnvelope', envelope),
            contentType: 'application/x-capnp',
            headers: traceHeaders(options.traceparent),
          })
        : await this.#http.json<TaskView>('POST', '/v1/tasks', {
            json: toJson('ComputeEnvelope', envelope),
            headers: traceHeaders(options.traceparent),
          });
    return new Task(this, view.task_id, view);
  }

  /**
   * Submits an envelope already in its JSON view (e.g. pasted by a person) without converting it
   * first: the coordinator parses and validates it and names the offending `field` if it is bad.
   */
  async submitJson(jsonView: unknown): Promise<Task> {
    const view = await this.#http.json<TaskView>('POST', '/v1/tasks', { json: jsonView });
    return new Task(this, view.task_id, view);
  }

  /** A handle on an existing task (nothing is fetched until you ask). */
  task(taskId: string): Task {
    return new Task(this, taskId);
  }

  getTask(taskId: string, signal?: AbortSignal): Promise<TaskView> {
    return this.#http.json<TaskView>('GET', `/v1/tasks/${encodeURIComponent(taskId)}`, { signal });
  }

  /** One page of the tenant's tasks, oldest first; pass `next` back as `after` for the next page. */
  listTasks(query: TaskQuery = {}): Promise<TaskPage> {
    return this.#http.json<TaskPage>('GET', '/v1/tasks', { query: { ...query } });
  }

  /** Every task matching `query`, oldest first, fetched page by page (`limit` per page). */
  async *iterateTasks(query: Omit<TaskQuery, 'after'> = {}): AsyncGenerator<TaskView, void, undefined> {
    let after: string | undefined;
    do {
      const page = await this.listTasks(after === undefined ? query : { ...query, after });
      yield* page.tasks;
      after = page.next;
    } while (after !== undefined);
  }

  cancelTask(taskId: string): Promise<TaskView> {
    return this.#http.json<TaskView>('DELETE', `/v1/tasks/${encodeURIComponent(taskId)}`);
  }

  /** `GET /v1/tasks/:id/result`; `NOT_READY` (409) until the task succeeded. */
  async fetchResult(taskId: string, signal?: AbortSignal): Promise<ComputeResult> {
    const json = await this.#http.json<unknown>('GET', `/v1/tasks/${encodeURIComponent(taskId)}/result`, {
      signal,
    });
    return fromJson('ComputeResult', json);
  }

  /** The bytes of an output (or input) DataRef: inline bytes, inline JSON as UTF-8, or a blob. */
  outputBytes(ref: DataRef): Promise<Uint8Array> {
    return dataRefBytes(this.#http, ref);
  }

  /**
   * Reads a stored blob by `/v1/blobs/sha256:<hex>` uri (outputs), `flock:sha256:<hex>` uri
   * (uploads, inputs) or bare `sha256:<hex>` hash.
   */
  blob(uriOrHash: string): Promise<{ bytes: Uint8Array; contentType: string }> {
    return readBlob(this.#http, uriOrHash);
  }

  /**
   * Uploads an input (`POST /v1/blobs`), content-addressed by sha256: name it in a task's inputs
   * by `uri` (`flock:sha256:<hex>`) instead of sending its bytes in every envelope.
   */
  uploadBlob(bytes: Uint8Array): Promise<ModuleRef> {
    return uploadBlob(this.#http, bytes);
  }

  /** Uploads a WASM module or WGSL source (`POST /v1/modules`), content-addressed by sha256. */
  uploadModule(bytes: Uint8Array | string, kind: 'wasm' | 'wgsl'): Promise<ModuleRef> {
    return uploadModule(this.#http, bytes, kind);
  }

  /**
   * Uploads an ONNX model (`POST /v1/modules`, `application/onnx`) for ml.* ops: its `uri`
   * (`flock:sha256:<hex>`) is their `params.model`.
   */
  uploadModel(bytes: Uint8Array): Promise<ModuleRef> {
    return uploadModule(this.#http, bytes, 'model');
  }

  /** Uploads `bytes` and returns a ModuleSpec that points at them (`flock:sha256:...` + hash). */
  async moduleSpec(
    bytes: Uint8Array | string,
    kind: 'wasm' | 'wgsl',
    extra: ModuleSpec = {},
  ): Promise<ModuleSpec> {
    const ref = await this.uploadModule(bytes, kind);
    return { ...extra, kind, uri: ref.uri, hash: ref.hash };
  }

  /**
   * Submits many envelopes at once as one campaign (`POST /v1/campaigns`); its tasks share one
   * trace: the `traceparent`'s, or else the campaign's own (derived from its id).
   */
  async submitCampaign(
    envelopes: ComputeEnvelope[],
    campaignId?: string,
    options: Pick<SubmitOptions, 'traceparent'> = {},
  ): Promise<{ campaign_id: string; tasks: Task[] }> {
    const body = {
      ...(campaignId === undefined ? {} : { campaign_id: campaignId }),
      tasks: (await Promise.all(envelopes.map((e) => this.#signed(e)))).map((envelope) =>
        toJson('ComputeEnvelope', envelope),
      ),
    };
    const created = await this.#http.json<{ campaign_id: string; tasks: TaskView[] }>(
      'POST',
      '/v1/campaigns',
      { json: body, headers: traceHeaders(options.traceparent) },
    );
    return {
      campaign_id: created.campaign_id,
      tasks: created.tasks.map((v) => new Task(this, v.task_id, v)),
    };
  }

  /**
   * Submits a workflow (`POST /v1/workflows`: steps, depends_on, references, when, for_each,
   * on_error) and returns its handle. Idempotent on `workflow_id`; another definition under the
   * same id is `CONFLICT`, a bad one 400 naming the `field`. Signed (`signBody`) when the client
   * has a signing secret.
   */
  async workflow(unsigned: JsonObject): Promise<Workflow> {
    const definition =
      this.#signingSecret === undefined ? unsigned : await signBody(unsigned, this.#signingSecret);
    const view = await this.#http.json<WorkflowView>('POST', '/v1/workflows', { json: definition });
    return new Workflow(this, view.workflow_id, view);
  }

  getWorkflow(workflowId: string, signal?: AbortSignal): Promise<WorkflowView> {
    return this.#http.json<WorkflowView>('GET', `/v1/workflows/${encodeURIComponent(workflowId)}`, {
      signal,
    });
  }

  /** This tenant's workflows, oldest first, a page at a time (`next` for the following one). */
  listWorkflows(
    query: { state?: string; limit?: number; after?: string } = {},
  ): Promise<{ workflows: WorkflowView[]; next?: string }> {
    return this.#http.json('GET', '/v1/workflows', { query });
  }

  cancelWorkflow(workflowId: string): Promise<WorkflowView> {
    return this.#http.json<WorkflowView>('DELETE', `/v1/workflows/${encodeURIComponent(workflowId)}`);
  }

  campaign(campaignId: string): Promise<CampaignView> {
    return this.#http.json<CampaignView>('GET', `/v1/campaigns/${encodeURIComponent(campaignId)}`);
  }

  /** Every volunteer the coordinator knows, page after page (1,000 a request). */
  workers(): Promise<WorkerView[]> {
    return operator.allWorkers(this.#http);
  }

  /**
   * `GET /v1/stats`: queue depth, running, workers, throughput and latency, the SLO targets, and
   * each op's service level over the window (`ops`, sorted by op).
   */
  stats(): Promise<StatsView> {
    return operator.stats(this.#http);
  }

  /**
   * This tenant's circuit breakers that are open, half-open, or closed with failures counted
   * (`GET /v1/breakers`), sorted by op. While one is open its op's queued tasks are held.
   */
  breakers(): Promise<BreakerView[]> {
    return operator.breakers(this.#http);
  }

  /**
   * Closes the breaker of `op` (`POST /v1/breakers/:op/reset`) and queues its held tasks again.
   * `NOT_FOUND` (404) when no breaker of that op is open.
   */
  resetBreaker(op: string): Promise<{ op: string; state: 'closed' }> {
    return operator.resetBreaker(this.#http, op);
  }

  /**
   * Makes an API key of this tenant (an operator key may name another `tenant`) with `scopes`
   * (`POST /v1/keys`; the caller needs `admin`). The answer's `key` is the secret, shown once;
   * with `signing: true` the key must sign its tasks, with `signing_secret` (shown once too).
   */
  createKey(request: KeyRequest): Promise<CreatedKey> {
    return operator.createKey(this.#http, request);
  }

  /** This tenant's keys, revoked ones included (`GET /v1/keys`; operator keys: every tenant's). */
  keys(filter: { tenant?: string } = {}): Promise<KeyView[]> {
    return operator.keys(this.#http, filter);
  }

  /** Revokes a key (`DELETE /v1/keys/:id`): refused from then on, its event streams closed. */
  revokeKey(keyId: string): Promise<KeyView> {
    return operator.revokeKey(this.#http, keyId);
  }

  /**
   * The webhook deliveries of a task or workflow whose `return_channel` is a URL, oldest first,
   * each with its attempts (`GET /v1/webhooks/deliveries?task_id=`; scope `read`); `NOT_FOUND`
   * for an id that is neither a task nor a workflow of this tenant. With a query instead: one page
   * of this tenant's deliveries in `query.state` (`failed`: given up).
   */
  webhookDeliveries(taskId: string): Promise<WebhookDelivery[]>;
  webhookDeliveries(query: WebhookDeliveryQuery): Promise<WebhookDeliveryPage>;
  webhookDeliveries(of: string | WebhookDeliveryQuery): Promise<WebhookDelivery[] | WebhookDeliveryPage> {
    return webhooks.webhookDeliveries(this.#http, of);
  }

  /**
   * Posts a failed webhook delivery again, its attempts cleared, with the same `Flock-Webhook-Id`
   * (`POST /v1/webhooks/deliveries/:id/redeliver`; scope `submit`). NOT_FOUND for an unknown id
   * or another tenant's; CONFLICT when it is pending or delivered.
   */
  redeliverWebhook(id: number): Promise<{ id: number; state: 'pending' }> {
    return webhooks.redeliverWebhook(this.#http, id);
  }

  /** This tenant's webhook signing secret, for `verifyWebhook` (`GET /v1/webhooks/secret`; scope `admin`). */
  webhookSecret(): Promise<string> {
    return webhooks.webhookSecret(this.#http);
  }

  /**
   * One page of the audit log (`GET /v1/audit`): each transition of this tenant's tasks (an
   * operator key: every tenant's) with input and output hashes, the worker and its fingerprint.
   */
  audit(query: AuditQuery = {}): Promise<AuditPage> {
    return operator.audit(this.#http, query);
  }

  /** Replays a recorded task, campaign or workflow (`POST /v1/replay`; needs submit and read). */
  replay(source: ReplaySource): Promise<ReplayView> {
    return operator.replay(this.#http, source);
  }

  /** A replay's pairs with both output hashes (`GET /v1/replay/:id`). */
  replayStatus(replayId: string): Promise<ReplayStatus> {
    return operator.replayStatus(this.#http, replayId);
  }

  /**
   * Subscribes to `/v1/events` (all of this tenant's tasks, or those matching the filter).
   * Rejects with `INVALID_ARGUMENT` when no WebSocket is available, `UNREACHABLE` when it cannot open.
   */
  async events(filter: { task_id?: string; campaign_id?: string } = {}): Promise<EventStream> {
    if (this.#WebSocket === undefined) {
      throw new FlockError(
        'INVALID_ARGUMENT',
        'no WebSocket available: pass options.WebSocket (e.g. from "ws")',
      );
    }
    const url = this.#http
      .url('/v1/events', { key: this.#apiKey, task_id: filter.task_id, campaign_id: filter.campaign_id })
      .replace(/^http/, 'ws');
    return EventStream.open(url, this.#WebSocket);
  }

  async tryOpenEvents(filter: { task_id?: string; campaign_id?: string }): Promise<EventStream | undefined> {
    if (this.#WebSocket === undefined) return undefined;
    try {
      return await this.events(filter);
    } catch {
      return undefined;
    }
  }

  /**
   * Runs one module over many inputs (one task each, like DCP's `compute.for`), at most
   * `concurrency` unfinished at a time, and resolves with one outcome per input, in input order.
   * A failed task is an outcome, not an exception.
   */
  map(
    module: ModuleSpec | Uint8Array,
    inputs: readonly MapInput[],
    options: MapOptions = {},
  ): Promise<MapOutcome[]> {
    return mapTasks(this, module, inputs, options);
  }

  /**
   * Submits one library task (`image.resize`, `data.query`, `crypto.hash`, ...) over `files`.
   * Params are typed per op and checked before anything is sent: a bad one throws FlockError
   * `INVALID_PARAMS` naming the field. Large files are uploaded once as blobs.
   */
  library<Op extends LibraryOp>(
    op: Op,
    params: LibraryParams[Op],
    files: readonly LibraryFile[],
    options?: LibraryTaskOptions,
  ): Promise<Task> {
    return submitLibrary(this, op, params, files, options);
  }

  /** One library task per file (a campaign), at most `concurrency` at a time; outcomes in file order. */
  mapLibrary<Op extends LibraryOp>(
    op: Op,
    params: LibraryParams[Op],
    files: readonly LibraryFile[],
    options?: LibraryMapOptions,
  ): Promise<MapOutcome[]> {
    return mapLibrary(this, op, params, files, options);
  }

  /**
   * An ml.* op over .npy files: each split along its leading dimension into tasks of
   * `options.batch` rows (default one task per file), each input its rows' raw bytes with their
   * TensorSpec; one outcome per batch (`file`, `batch`, `rows`). `joinFileOutputs` puts a file's
   * outputs back together.
   */
  mapTensors<Op extends LibraryOp>(
    op: Op,
    params: LibraryParams[Op],
    files: readonly TensorFile[],
    options?: TensorMapOptions,
  ): Promise<TensorOutcome[]> {
    return mapTensors(this, op, params, files, options);
  }
}
