import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { type DestinationStream, type Logger, pino } from 'pino';
import { type CoordinatorConfig, resolveConfig } from './config.ts';
import { AddressCounter } from './edge/address-limits.ts';
import { ApiKeys } from './edge/api-keys.ts';
import { normalizeAddress, TrustedProxies } from './edge/client-address.ts';
import { EventsEndpoint } from './edge/events-endpoint.ts';
import { EventsHub } from './edge/events-hub.ts';
import { HttpApi } from './edge/http-api.ts';
import { selfSignedNames, type TlsCredentials, tlsCredentials } from './edge/tls-credentials.ts';
import { UpgradeRouter } from './edge/upgrade-router.ts';
import { WebhookOutbox } from './edge/webhook-outbox.ts';
import { Webhooks } from './edge/webhooks.ts';
import { WorkerHub } from './edge/worker-hub.ts';
import { Coordinator, type TrustOptions } from './engine/coordinator.ts';
import { Metrics } from './metrics.ts';
import { BlobStore } from './store/blob-store.ts';
import { DataDirLock } from './store/data-dir-lock.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import { openSqliteThreadStore } from './store/sqlite-thread-store.ts';
import type { Store } from './store/store.ts';

/** A running coordinator. */
export interface RunningCoordinator {
  /** `http://host:port`, or `https://host:port` with TLS: where it listens. */
  url: string;
  /** `FLOCK_PUBLIC_URL` when set, else `url`: the origin volunteers and requesters are told. */
  publicUrl: string;
  /** With `FLOCK_TLS=self-signed`: the generated certificate's file, for clients to trust. */
  selfSignedCertFile: string | undefined;
  port: number;
  /** The generated API key when FLOCK_API_KEYS was not set. */
  devKey: string | undefined;
  config: CoordinatorConfig;
  coordinator: Coordinator;
  store: Store;
  /** Stops accepting, closes every socket and the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this store instead of SQLite in `dataDir` (e.g. PostgreSQL). */
  store?: Store;
  /** Use this events hub (e.g. one that relays to other coordinators). */
  events?: EventsHub;
  /** Trust state and draws (default: the store's trust tables, crypto random). */
  trust?: TrustOptions;
  /** Where the JSON log lines go (default: stdout); tests read them. */
  logStream?: DestinationStream;
  /** Other coordinators write the same store (a cluster on PostgreSQL). */
  shared?: boolean;
}

/** Without configured keys, one development key, kept in the store so that it survives restarts. */
async function devKeyOf(config: CoordinatorConfig, store: Store): Promise<string | undefined> {
  if (config.apiKeys.size !== 0 || config.adminKeys.size !== 0) return undefined;
  let devKey = await store.getMeta('dev_api_key');
  if (!devKey) {
    devKey = ApiKeys.newDevKey();
    await store.setMeta('dev_api_key', devKey);
  }
  return devKey;
}

/** The Prometheus metrics, reading the coordinator once it exists. */
export function metricsOf(store: Store, coordinator: () => Coordinator | undefined): Metrics {
  return new Metrics({
    taskCounts: () => store.stateCounts(),
    queueDepth: () => coordinator()?.queueDepth() ?? 0,
    openBytes: () => coordinator()?.openBytes() ?? 0,
    leftInStore: () => coordinator()?.leftInStore() ?? 0,
    workersByCapability: () => {
      const out: Record<string, number> = { webgpu: 0, wasm: 0 };
      for (const w of coordinator()?.connectedWorkers() ?? []) {
        if (w.capability.webgpu) out.webgpu! += 1;
        if (w.capability.wasm) out.wasm! += 1;
      }
      return out;
    },
  });
}

/** What answers on the port: the REST API, and the WebSocket endpoints by upgrade. */
interface Endpoints {
  api: HttpApi;
  proxies: TrustedProxies;
  hub: WorkerHub;
  eventsEndpoint: EventsEndpoint;
}

/**
 * The HTTP server (HTTPS when `tls` is given: WSS upgrades on the same port) with its timeouts and
 * connection limits; not yet listening.
 */
function createHttpServer(
  config: CoordinatorConfig,
  coordinator: Coordinator,
  endpoints: Endpoints,
  tls: TlsCredentials | undefined,
): Server {
  const { api, proxies, hub, eventsEndpoint } = endpoints;
  const options = {
    // Timeouts are checked every second, so each fires when documented (Node's default: 30 s).
    connectionsCheckingInterval: 1000,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
  };
  // An https.Server is an http.Server with a TLS layer under it: the same events and limits apply.
  const server: Server = tls
    ? (createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, api.handle) as unknown as Server)
    : createServer(options, api.handle);
  server.keepAliveTimeout = 5_000;
  server.timeout = config.idleTimeoutMs;
  server.maxHeadersCount = 100;
  server.maxConnections = config.maxConnections;
  // Connections per peer address (a trusted proxy's are its clients', counted per WebSocket).
  const perPeer = new AddressCounter(config.maxConnectionsPerAddress);
  server.on('connection', (socket: Socket) => {
    const peer = normalizeAddress(socket.remoteAddress);
    if (proxies.has(peer)) return;
    if (!perPeer.acquire(peer)) {
      coordinator.metrics.errors.inc({ code: 'TOO_MANY_CONNECTIONS' });
      socket.destroy();
      return;
    }
    socket.once('close', () => perPeer.release(peer));
  });
  const router = new UpgradeRouter((code) => coordinator.metrics.errors.inc({ code }))
    .route('/v1/worker', hub)
    .route('/v1/events', eventsEndpoint);
  server.on('upgrade', router.handle);
  return server;
}

/** Listens on the configured host and port; resolves to the port (the given one, or the one given out for 0). */
async function listen(server: Server, config: CoordinatorConfig): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Starts a coordinator on one port: REST API, `/v1/worker`, `/v1/events`, `/metrics`,
 * `/healthz`, and the pages. Resolves once it listens and has recovered its open tasks.
 */
export async function startCoordinator(
  partial: Partial<CoordinatorConfig> = {},
  options: StartOptions = {},
): Promise<RunningCoordinator> {
  const config = resolveConfig(partial);
  const logOptions = { level: config.logLevel, base: { svc: 'flock-coordinator' } };
  const log = options.logStream ? pino(logOptions, options.logStream) : pino(logOptions);
  // Before the store opens: a bad certificate stops the start with nothing to close.
  const publicHost = config.publicUrl === undefined ? undefined : new URL(config.publicUrl).hostname;
  const tls = await tlsCredentials(config.tls, config.dataDir, selfSignedNames([config.host, publicHost]));
  // The embedded store's directory serves one coordinator process at a time (data-dir-lock.ts).
  const lock = options.store === undefined ? DataDirLock.acquire(config.dataDir) : undefined;
  try {
    return await serve(config, options, log, tls, lock);
  } catch (err) {
    // A start that failed gives the directory back.
    lock?.release();
    throw err;
  }
}

/** The rest of the start: the store, the engine, the server; `lock` is released on close. */
async function serve(
  config: CoordinatorConfig,
  options: StartOptions,
  log: Logger,
  tls: TlsCredentials | undefined,
  lock: DataDirLock | undefined,
): Promise<RunningCoordinator> {
  const store =
    options.store ??
    (config.sqliteThread
      ? openSqliteThreadStore(config.dataDir, { sync: config.sqliteSync })
      : new SqliteStore(config.dataDir, { sync: config.sqliteSync, warn: (message) => log.warn(message) }));
  await store.migrate();
  const blobs = new BlobStore(config.dataDir);
  const events = options.events ?? new EventsHub(config.maxBufferedBytes);
  const keys = new ApiKeys(config.apiKeys, await devKeyOf(config, store), config.adminKeys, {
    scopes: config.keyScopes,
    signingSecrets: config.signingSecrets,
    store: store.keyStore(),
  });
  let coordinator: Coordinator | undefined;
  const metrics = metricsOf(store, () => coordinator);
  coordinator = new Coordinator(config, store, blobs, events, metrics, log, options.trust);
  // Terminal events of tasks whose return_channel is a URL are posted there (edge/webhooks.ts).
  const webhooks = new Webhooks(store.webhookStore(), config, log, metrics.registry);
  events.onTerminal = webhooks.onTerminal;
  // Deliveries a killed coordinator did not store are made from the outbox (edge/webhook-outbox.ts).
  const outbox = new WebhookOutbox(store, log, () => webhooks.kick());
  const startedAtMs = Date.now();
  await coordinator.start();
  await webhooks.start();
  await outbox.start(startedAtMs, options.shared === true);

  const api = new HttpApi(coordinator, keys, config, log, webhooks);
  const proxies = new TrustedProxies(config.trustedProxies);
  const hub = new WorkerHub(coordinator, config, log, proxies);
  const eventsEndpoint = new EventsEndpoint(keys, events);
  const server = createHttpServer(config, coordinator, { api, proxies, hub, eventsEndpoint }, tls);
  const port = await listen(server, config);
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  const publicUrl = config.publicUrl ?? url;
  log.info({ url, publicUrl }, 'coordinator listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    selfSignedCertFile: tls?.selfSignedCertFile,
    port,
    devKey: keys.devKey,
    config,
    coordinator,
    store,
    close() {
      closing ??= (async () => {
        await coordinator.stop();
        await outbox.stop();
        await webhooks.stop();
        await api.close();
        hub.close();
        events.closeAll();
        eventsEndpoint.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await store.close();
        lock?.release();
      })();
      return closing;
    },
  };
}
