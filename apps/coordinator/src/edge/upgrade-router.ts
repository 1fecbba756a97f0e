import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { storeUnavailable } from '../store/store-unavailable.ts';

/** What a WebSocket endpoint decides about an upgrade request before the handshake. */
export type UpgradeDecision =
  | { accept: true; onOpen: (socket: WebSocket) => void }
  | { accept: false; status: number; code: string; message: string; headers?: Record<string, string> };

/** One WebSocket endpoint: its server (limits such as `maxPayload`) and its admission check. */
export interface WebSocketEndpoint {
  readonly wss: WebSocketServer;
  /** Decides on an upgrade: refuse with an HTTP status, or accept and get the open socket. */
  admit(req: IncomingMessage): UpgradeDecision | Promise<UpgradeDecision>;
}

/**
 * The one place where WebSocket upgrades are wired. Every raw socket and every WebSocket gets an
 * error path here, before any endpoint sees it, so a malformed frame (over `maxPayload`, invalid
 * UTF-8, RSV bits, an unmasked client frame, an unknown opcode) closes that socket with the code
 * `ws` chose (1009, 1007, 1002) and nothing else: a new endpoint cannot forget it.
 */
export class UpgradeRouter {
  private readonly routes = new Map<string, WebSocketEndpoint>();

  constructor(private readonly onSocketError: (code: string) => void) {}

  /** Serves `endpoint` at `path` (exact match of the URL's pathname). */
  route(path: string, endpoint: WebSocketEndpoint): this {
    this.routes.set(path, endpoint);
    return this;
  }

  /** The HTTP server's `upgrade` listener. */
  handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node hands the socket over without an error listener: a reset here would crash the process.
    socket.on('error', () => socket.destroy());
    let endpoint: WebSocketEndpoint | undefined;
    let decision: UpgradeDecision | Promise<UpgradeDecision>;
    try {
      endpoint = this.routes.get(new URL(req.url ?? '/', 'http://localhost').pathname);
      decision = endpoint
        ? endpoint.admit(req)
        : { accept: false, status: 404, code: 'NOT_FOUND', message: 'no WebSocket endpoint here' };
    } catch {
      decision = { accept: false, status: 400, code: 'INVALID_ARGUMENT', message: 'bad upgrade request' };
    }
    // An endpoint that looks a key up in the store decides later (events-endpoint.ts).
    if (decision instanceof Promise) {
      decision.then(
        (later) => this.complete(req, socket, head, endpoint, later),
        (err: unknown) =>
          this.complete(
            req,
            socket,
            head,
            endpoint,
            storeUnavailable(err) ? STORE_DECISION : INTERNAL_DECISION,
          ),
      );
      return;
    }
    this.complete(req, socket, head, endpoint, decision);
  };

  private complete(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    endpoint: WebSocketEndpoint | undefined,
    decision: UpgradeDecision,
  ): void {
    if (socket.destroyed) return;
    if (!decision.accept || !endpoint) {
      const refused = decision.accept
        ? { status: 500, code: 'INTERNAL', message: 'internal error', headers: undefined }
        : decision;
      refuse(socket, refused.status, refused.code, refused.message, refused.headers);
      return;
    }
    const { onOpen } = decision;
    endpoint.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err: Error & { code?: string }) => this.onSocketError(err.code ?? 'SOCKET_ERROR'));
      onOpen(ws);
    });
  }
}

const INTERNAL_DECISION: UpgradeDecision = {
  accept: false,
  status: 500,
  code: 'INTERNAL',
  message: 'internal error',
};

/** The key lookup found the shared store unreachable (as the REST API answers, http-api.ts). */
const STORE_DECISION: UpgradeDecision = {
  accept: false,
  status: 503,
  code: 'STORE_UNAVAILABLE',
  message: 'the store cannot be reached; try again',
  headers: { 'Retry-After': '2' },
};

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with an HTTP error and the JSON error body, then closes. */
function refuse(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { code, message } });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}
