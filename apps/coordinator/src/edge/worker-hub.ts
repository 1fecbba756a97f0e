import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator } from '../engine/coordinator.ts';
import { AddressCounter, AddressRate } from './address-limits.ts';
import type { TrustedProxies } from './client-address.ts';
import type { UpgradeDecision, WebSocketEndpoint } from './upgrade-router.ts';
import { WorkerSession } from './worker-session.ts';

export { CLOSE } from './worker-violation.ts';

/**
 * `/v1/worker`: one binary Cap'n Proto Frame per WebSocket message (Contract A). Checks Origin,
 * frame size, rate and protocol order; a violation sends `error { code, message }` and closes
 * that connection only (1009 too large, 1002 malformed/unexpected, 1008 policy). What a connection
 * costs is bounded by what it holds: lists in its frames by its slots, its bytes and work by
 * budgets (past them it is not read for a while), and connections and hellos per address.
 */
export class WorkerHub implements WebSocketEndpoint {
  readonly wss: WebSocketServer;
  private readonly sockets: AddressCounter;
  private readonly hellos: AddressRate;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
    private readonly proxies: TrustedProxies,
  ) {
    this.sockets = new AddressCounter(config.maxConnectionsPerAddress);
    this.hellos = new AddressRate(config.hellosPerMinute);
    // ws itself drops anything over twice the limit; between the two, we answer with an error frame.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxFrameBytes * 2,
      perMessageDeflate: false,
    });
  }

  /** Connections per client address and hellos (one per connection) per minute are capped. */
  admit(req: IncomingMessage): UpgradeDecision {
    const address = this.proxies.clientAddress(req);
    if (!this.hellos.take(address)) {
      this.coordinator.metrics.errors.inc({ code: 'RATE_LIMITED' });
      return {
        accept: false,
        status: 429,
        code: 'RATE_LIMITED',
        message: `more than ${this.config.hellosPerMinute} volunteer connections a minute from this address`,
        headers: { 'Retry-After': String(Math.max(1, this.hellos.retryAfterS(address))) },
      };
    }
    if (!this.sockets.acquire(address)) {
      this.coordinator.metrics.errors.inc({ code: 'TOO_MANY_CONNECTIONS' });
      return {
        accept: false,
        status: 429,
        code: 'TOO_MANY_CONNECTIONS',
        message: `${this.config.maxConnectionsPerAddress} volunteer connections are open from this address`,
        headers: { 'Retry-After': '10' },
      };
    }
    return {
      accept: true,
      onOpen: (socket) => {
        socket.once('close', () => this.sockets.release(address));
        this.accept(socket, req);
      },
    };
  }

  /**
   * Whether the Origin header is allowed: absent (not a browser), same host (behind a trusted
   * proxy: the `X-Forwarded-Host` and `X-Forwarded-Proto` it sets), the public URL's, or listed.
   */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const host = req.headers.host;
    if (host && (origin === `http://${host}` || origin === `https://${host}`)) return true;
    const forwarded = this.proxies.forwardedOrigin(req);
    if (forwarded !== undefined && origin === forwarded) return true;
    if (this.config.publicUrl !== undefined && origin === this.config.publicUrl) return true;
    return this.config.allowedOrigins.includes(origin);
  }

  private accept(socket: WebSocket, req: IncomingMessage): void {
    const userAgent = req.headers['user-agent'];
    const session = new WorkerSession(socket, this.coordinator, this.config, this.log, userAgent);
    session.start(this.originAllowed(req), req.headers.origin);
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
