import type { IncomingMessage } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { ApiKeys, KEY_CACHE_MS } from './api-keys.ts';
import type { EventsHub } from './events-hub.ts';
import type { UpgradeDecision, WebSocketEndpoint } from './upgrade-router.ts';

/** Close code of an events stream whose key was revoked (4000–4999: the application's own). */
export const CLOSE_KEY_REVOKED = 4401;

/** Largest message a requester may send on `/v1/events` (it is read-only: any message closes it). */
export const EVENTS_MAX_PAYLOAD = 4096;

/**
 * `/v1/events`: a requester's live event stream. The key (`?key=` or a bearer header) picks the
 * tenant, whose events alone it receives; admin keys also receive volunteers' capability events.
 * The stream is read-only: a message closes it with 1003.
 */
export class EventsEndpoint implements WebSocketEndpoint {
  readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: EVENTS_MAX_PAYLOAD,
    perMessageDeflate: false,
  });

  /** Open streams by the stored key that opened them (and its hash), closed when it is revoked. */
  private readonly byKey = new Map<string, { hash: string; open: Set<WebSocket> }>();
  /** Every KEY_CACHE_MS the stored keys of open streams are looked up again (revoked elsewhere?). */
  private readonly recheck = setInterval(() => void this.recheckKeys(), KEY_CACHE_MS).unref();

  constructor(
    private readonly keys: ApiKeys,
    private readonly events: EventsHub,
  ) {
    keys.onRevoke((keyId) => {
      for (const ws of this.byKey.get(keyId)?.open ?? [])
        ws.close(CLOSE_KEY_REVOKED, 'the API key was revoked');
    });
  }

  async admit(req: IncomingMessage): Promise<UpgradeDecision> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const header = req.headers.authorization;
    const key =
      url.searchParams.get('key') ?? (header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined);
    const identity = await this.keys.identify(key ?? undefined);
    if (!identity) {
      return { accept: false, status: 401, code: 'UNAUTHENTICATED', message: 'a valid API key is required' };
    }
    const channel = url.searchParams.get('channel') ?? undefined;
    if (!identity.scopes.canSubscribe(channel)) {
      const scope = channel === undefined ? 'read' : `can_subscribe:${channel}`;
      return { accept: false, status: 403, code: 'FORBIDDEN', message: `this key lacks the scope ${scope}` };
    }
    const format = url.searchParams.get('format') ?? 'bus';
    if (format !== 'bus' && format !== 'legacy') {
      return {
        accept: false,
        status: 400,
        code: 'INVALID_ARGUMENT',
        message: 'format must be bus (the default) or legacy',
      };
    }
    const { keyId } = identity;
    return {
      accept: true,
      onOpen: (ws) => {
        if (keyId !== undefined) this.track(keyId, ApiKeys.hashOf(key!), ws);
        this.events.subscribe(ws, {
          tenant: identity.tenant,
          admin: identity.admin,
          taskId: url.searchParams.get('task_id') ?? undefined,
          campaignId: url.searchParams.get('campaign_id') ?? undefined,
          channel,
          format,
        });
        ws.on('message', () => ws.close(1003, 'the events stream is read-only'));
      },
    };
  }

  private track(keyId: string, hash: string, ws: WebSocket): void {
    const entry = this.byKey.get(keyId) ?? { hash, open: new Set<WebSocket>() };
    this.byKey.set(keyId, entry);
    const { open } = entry;
    open.add(ws);
    ws.once('close', () => {
      open.delete(ws);
      if (open.size === 0) this.byKey.delete(keyId);
    });
  }

  private async recheckKeys(): Promise<void> {
    for (const { hash } of [...this.byKey.values()]) {
      // A store error leaves the stream open; the next round asks again.
      await this.keys.recheck(hash).catch(() => undefined);
    }
  }

  close(): void {
    clearInterval(this.recheck);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
