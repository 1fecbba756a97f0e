import type { IncomingMessage } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ApiKeys } from './api-keys.ts';
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

  /** Open streams by the stored key that opened them, closed when it is revoked. */
  private readonly byKey = new Map<string, Set<WebSocket>>();

  constructor(
    private readonly keys: ApiKeys,
    private readonly events: EventsHub,
  ) {
    keys.onRevoke((keyId) => {
      for (const ws of this.byKey.get(keyId) ?? []) ws.close(CLOSE_KEY_REVOKED, 'the API key was revoked');
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
    const { keyId } = identity;
    return {
      accept: true,
      onOpen: (ws) => {
        if (keyId !== undefined) this.track(keyId, ws);
        this.events.subscribe(ws, {
          tenant: identity.tenant,
          admin: identity.admin,
          taskId: url.searchParams.get('task_id') ?? undefined,
          campaignId: url.searchParams.get('campaign_id') ?? undefined,
          channel,
        });
        ws.on('message', () => ws.close(1003, 'the events stream is read-only'));
      },
    };
  }

  private track(keyId: string, ws: WebSocket): void {
    const open = this.byKey.get(keyId) ?? new Set<WebSocket>();
    this.byKey.set(keyId, open);
    open.add(ws);
    ws.once('close', () => {
      open.delete(ws);
      if (open.size === 0) this.byKey.delete(keyId);
    });
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
