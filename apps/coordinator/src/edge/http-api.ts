import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProtocolError } from '@flock/protocol';
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator } from '../engine/coordinator.ts';
import { CoordinatorError } from '../errors.ts';
import { storeUnavailable } from '../store/store-unavailable.ts';
import type { ApiKeys } from './api-keys.ts';
import { CorsPolicy } from './cors.ts';
import { getAudit } from './http-audit.ts';
import { getBlob, getLeaseInput, getModule, uploadBlob, uploadModule } from './http-blobs.ts';
import { createCampaign, getCampaign } from './http-campaigns.ts';
import { createCircuit, getCircuit, listCircuits, runCircuit } from './http-circuits.ts';
import { handleKeys } from './http-keys.ts';
import { getLibraryFile } from './http-libs.ts';
import { createReplay, getReplay } from './http-replay.ts';
import { listBreakers, listWorkers, resetBreaker, stats } from './http-service.ts';
import { cancelTask, createTask, getResult, getTask, listTasks } from './http-tasks.ts';
import { type ApiContext, bearer, decodeSegment, type Handler, json } from './http-util.ts';
import { getWebhooks, redeliverWebhook } from './http-webhooks.ts';
import { cancelWorkflow, createWorkflow, getWorkflow, listWorkflows } from './http-workflows.ts';
import { ModuleMeter } from './module-meter.ts';
import { forbidden, requiredScope, Scopes } from './scopes.ts';
import { servePage } from './static-pages.ts';
import { RetryLaterError, TenantLimits } from './tenant-limits.ts';
import type { Webhooks } from './webhooks.ts';

export { MAX_CAMPAIGN_TASKS } from './http-campaigns.ts';
export { MAX_LIST_LIMIT, readBody } from './http-util.ts';

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The authenticated routes: `[method, first segment, segment count, third segment?, handler]`. */
const ROUTES: ReadonlyArray<readonly [string, string, number, string | undefined, Handler]> = [
  ['POST', 'tasks', 1, undefined, createTask],
  ['GET', 'tasks', 1, undefined, listTasks],
  ['GET', 'tasks', 2, undefined, getTask],
  ['DELETE', 'tasks', 2, undefined, cancelTask],
  ['GET', 'tasks', 3, 'result', getResult],
  ['POST', 'campaigns', 1, undefined, createCampaign],
  ['GET', 'campaigns', 2, undefined, getCampaign],
  ['POST', 'workflows', 1, undefined, createWorkflow],
  ['GET', 'workflows', 1, undefined, listWorkflows],
  ['GET', 'workflows', 2, undefined, getWorkflow],
  ['DELETE', 'workflows', 2, undefined, cancelWorkflow],
  ['POST', 'circuits', 1, undefined, createCircuit],
  ['GET', 'circuits', 1, undefined, listCircuits],
  ['GET', 'circuits', 2, undefined, getCircuit],
  ['POST', 'circuits', 3, 'runs', runCircuit],
  ['POST', 'modules', 1, undefined, uploadModule],
  ['POST', 'blobs', 1, undefined, uploadBlob],
  ['GET', 'blobs', 2, undefined, getBlob],
  ['GET', 'workers', 1, undefined, listWorkers],
  ['GET', 'stats', 1, undefined, stats],
  ['GET', 'breakers', 1, undefined, listBreakers],
  ['POST', 'breakers', 3, 'reset', resetBreaker],
  ['GET', 'webhooks', 2, undefined, getWebhooks],
  ['POST', 'webhooks', 4, undefined, redeliverWebhook],
  ['GET', 'audit', 1, undefined, getAudit],
  ['POST', 'replay', 1, undefined, createReplay],
  ['GET', 'replay', 2, undefined, getReplay],
];

/** What a tenant's submission rate counts: each POST of tasks, campaigns, workflows. */
const SUBMISSIONS: ReadonlySet<string> = new Set(['tasks', 'campaigns', 'workflows', 'replay']);

/** Seconds a request that found the store unreachable is told to wait (STORE_UNAVAILABLE). */
const STORE_RETRY_AFTER_S = 2;

/** The first path segments of the authenticated routes (the only ones CORS applies to). */
const REST_RESOURCES: ReadonlySet<string> = new Set(ROUTES.map((route) => route[1]));

/**
 * The requester REST API (Contract B) on `node:http`: JSON view or `application/x-capnp` bodies,
 * bearer API keys per tenant, errors as `{ error: { code, message, field? } }`. Routing, auth
 * and error answers are here; the handlers by resource in http-tasks.ts, http-campaigns.ts,
 * http-blobs.ts and http-service.ts.
 */
export class HttpApi {
  constructor(
    private readonly coordinator: Coordinator,
    private readonly keys: ApiKeys,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
    webhooks?: Webhooks,
  ) {
    this.meter = new ModuleMeter({
      blobs: coordinator.blobs,
      store: coordinator.store,
      maxModuleBytes: config.maxBodyBytes,
      remoteModules: config.remoteModules,
    });
    this.ctx = {
      coordinator,
      config,
      meter: this.meter,
      limits: new TenantLimits(config, coordinator.store, Date.now, {
        leftInStore: () => coordinator.leftInStore(),
        maxStoreQueued: config.maxStoreQueued,
      }),
      ...(webhooks !== undefined ? { webhooks } : {}),
    };
    this.cors = new CorsPolicy(config.corsOrigins);
  }

  /** CORS for requester web apps (FLOCK_CORS_ORIGINS), on the authenticated routes only. */
  private readonly cors: CorsPolicy;

  /** Instruments the WASM modules of submitted tasks with fuel (module-meter.ts). */
  private readonly meter: ModuleMeter;
  /** What the handlers are given. */
  private readonly ctx: ApiContext;

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
    if (path === '/healthz') {
      // A cluster coordinator that cannot reach PostgreSQL is out of a load balancer's rotation.
      if (this.coordinator.store.reachable === false) return json(res, 503, { status: 'store unavailable' });
      return json(res, 200, { status: 'ok' });
    }
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
    // The libraries' WASM builds, for volunteer tabs (public, versioned, immutable).
    if (path.startsWith('/v1/libs/') && (method === 'GET' || method === 'HEAD'))
      return getLibraryFile(req, res, decodeURI(path), method === 'HEAD');
    const parts = path.split('/').slice(2).map(decodeSegment);
    // Modules are fetched by volunteer tabs, which hold no API key: public by content hash.
    if (parts[0] === 'modules' && parts.length === 2 && method === 'GET')
      return getModule(this.ctx, res, parts[1]!);
    // A lease's uploaded inputs, for the tab holding it (its task token instead of a key).
    if (parts[0] === 'leases' && parts.length === 4 && parts[2] === 'inputs' && method === 'GET')
      return getLeaseInput(this.ctx, req, res, parts[1]!, parts[3]!);

    // A preflight carries no key: answered here, before authentication, for a route that exists.
    const corsFor = (requested: string) => this.pick(requested, parts) !== undefined;
    if (REST_RESOURCES.has(parts[0] ?? '') && this.cors.handle(req, res, corsFor)) return;
    const identity = await this.keys.identify(bearer(req));
    if (identity === undefined) throw new CoordinatorError('UNAUTHENTICATED', 'a valid API key is required');
    if (parts[0] === 'keys') {
      if (!identity.scopes.has('admin')) throw forbidden('admin');
      return handleKeys(this.ctx, req, res, identity, this.keys, parts);
    }
    const handler = this.pick(method, parts);
    if (!handler) {
      const known = ['tasks', 'campaigns', 'modules', 'blobs', 'workers', 'stats', 'breakers'].includes(
        parts[0] ?? '',
      );
      throw new CoordinatorError(known ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', `${method} ${path}`);
    }
    const scope = requiredScope(method, parts[0] ?? '');
    if (!identity.scopes.has(scope)) throw forbidden(scope);
    if (method === 'POST' && parts.length === 1 && SUBMISSIONS.has(parts[0]!))
      this.ctx.limits.takeSubmission(identity.tenant);
    // A key with a scope list carries it to the handlers (admitEnvelope checks can_submit per op).
    // A signing key's secret, too (checkSignature).
    let ctx: ApiContext =
      identity.scopes === Scopes.ALL ? this.ctx : { ...this.ctx, scopes: identity.scopes };
    if (identity.signingSecret !== undefined) ctx = { ...ctx, signingSecret: identity.signingSecret };
    if (identity.admin) ctx = { ...ctx, admin: true };
    return handler(ctx, req, res, identity.tenant, parts);
  }

  private pick(method: string, parts: string[]): Handler | undefined {
    const [head, , sub] = parts;
    for (const [m, h, n, s, handler] of ROUTES) {
      if (m === method && h === head && n === parts.length && (s === undefined || s === sub)) return handler;
    }
    return undefined;
  }

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
    } else if (storeUnavailable(err)) {
      // The database is down or unreachable: the client may come back, unlike after a bug.
      status = 503;
      body = { code: 'STORE_UNAVAILABLE', message: 'the store cannot be reached; try again' };
      res.setHeader('Retry-After', String(STORE_RETRY_AFTER_S));
      this.log.warn({ err: (err as Error).message }, 'request failed: store unavailable');
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
    if (err instanceof RetryLaterError) res.setHeader('Retry-After', String(err.retryAfterS));
    json(res, status, { error: body });
  }
}
