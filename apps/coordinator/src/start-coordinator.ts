import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ApiKeys } from './api-keys.ts';
import { BlobStore } from './blob-store.ts';
import { type CoordinatorConfig, resolveConfig } from './config.ts';
import { Coordinator, type TrustOptions } from './coordinator.ts';
import { EventsHub } from './events-hub.ts';
import { HttpApi } from './http-api.ts';
import { Metrics } from './metrics.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';
import { WorkerHub } from './worker-hub.ts';

/** A running coordinator. */
export interface RunningCoordinator {
  /** `http://host:port` */
  url: string;
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
  const log = pino({ level: config.logLevel, base: { svc: 'flock-coordinator' } });
  const store = options.store ?? new SqliteStore(config.dataDir, { sync: config.sqliteSync });
  await store.migrate();
  const blobs = new BlobStore(config.dataDir);
  const events = options.events ?? new EventsHub(config.maxBufferedBytes);
  // Without configured keys, one development key, kept in the store so that it survives restarts.
  let devKey: string | undefined;
  if (config.apiKeys.size === 0) {
    devKey = await store.getMeta('dev_api_key');
    if (!devKey) {
      devKey = ApiKeys.newDevKey();
      await store.setMeta('dev_api_key', devKey);
    }
  }
  const keys = new ApiKeys(config.apiKeys, devKey);
  let coordinator: Coordinator | undefined;
  const metrics = new Metrics({
    taskCounts: () => store.stateCounts(),
    queueDepth: () => coordinator?.queueDepth() ?? 0,
    workersByCapability: () => {
      const out: Record<string, number> = { webgpu: 0, wasm: 0 };
      for (const w of coordinator?.connectedWorkers() ?? []) {
        if (w.capability.webgpu) out.webgpu! += 1;
        if (w.capability.wasm) out.wasm! += 1;
      }
      return out;
    },
  });
  coordinator = new Coordinator(config, store, blobs, events, metrics, log, options.trust);
  await coordinator.start();

  const api = new HttpApi(coordinator, keys, config, log);
  const hub = new WorkerHub(coordinator, config, log);
  const eventsWss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const server = createServer(api.handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/v1/worker') {
      hub.wss.handleUpgrade(req, socket, head, (ws) => hub.wss.emit('connection', ws, req));
      return;
    }
    if (url.pathname === '/v1/events') {
      const header = req.headers.authorization;
      const key =
        url.searchParams.get('key') ?? (header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined);
      const tenant = keys.tenantOf(key ?? undefined);
      if (tenant === undefined) {
        const body = JSON.stringify({
          error: { code: 'UNAUTHENTICATED', message: 'a valid API key is required' },
        });
        socket.end(
          `HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      eventsWss.handleUpgrade(req, socket, head, (ws) => {
        events.subscribe(ws, {
          tenant,
          taskId: url.searchParams.get('task_id') ?? undefined,
          campaignId: url.searchParams.get('campaign_id') ?? undefined,
          channel: url.searchParams.get('channel') ?? undefined,
        });
        ws.on('message', () => ws.close(1003, 'the events stream is read-only'));
      });
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  log.info({ url }, 'coordinator listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    devKey: keys.devKey,
    config,
    coordinator,
    store,
    close() {
      closing ??= (async () => {
        await coordinator.stop();
        hub.close();
        events.closeAll();
        for (const ws of eventsWss.clients) ws.terminate();
        eventsWss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await store.close();
      })();
      return closing;
    },
  };
}
