import pg from 'pg';
import { CoordinatorError } from '../errors.ts';

/** Largest NOTIFY payload PostgreSQL accepts (its limit is "shorter than 8000 bytes"). */
export const MAX_NOTIFY_BYTES = 7999;

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export type NotifyHandler = (payload: string) => void;

export interface PgNotifierOptions {
  /** Delay before reconnecting a lost LISTEN connection, ms. Default 250. */
  reconnectMs?: number;
  /**
   * Called after a lost LISTEN connection is back. Notifications sent while it was down are
   * gone, so a listener must re-read what it cares about (re-scan the queue, reload tasks).
   */
  onResync?: () => void;
  /** Called with errors of the LISTEN connection that lead to a reconnect. */
  onError?: (err: Error) => void;
}

function checkChannel(channel: string): void {
  if (!CHANNEL.test(channel)) {
    throw new CoordinatorError(
      'INVALID_ARGUMENT',
      `NOTIFY channel must match ${CHANNEL.source}, got "${channel}"`,
      'channel',
    );
  }
}

/**
 * LISTEN/NOTIFY between coordinators. One dedicated connection LISTENs on every subscribed
 * channel (LISTEN is per session, so it cannot come from a pool) and reconnects when lost;
 * `notify` sends through any queryable (the pool, or a transaction's client, in which case the
 * notification leaves at COMMIT and never on ROLLBACK). Delivery is at most once: listeners
 * that must not miss anything resync in `onResync`.
 */
export class PgNotifier {
  private readonly handlers = new Map<string, Set<NotifyHandler>>();
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly publisher: pg.Pool,
    private readonly options: PgNotifierOptions = {},
  ) {}

  /** Subscribes `handler` to `channel`; resolves once the LISTEN is in place. Returns the unsubscribe. */
  async listen(channel: string, handler: NotifyHandler): Promise<() => Promise<void>> {
    checkChannel(channel);
    let set = this.handlers.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    const client = await this.connection();
    if (first) await client.query(`LISTEN ${channel}`);
    return async () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.handlers.delete(channel);
      if (this.client && !this.closed) await this.client.query(`UNLISTEN ${channel}`);
    };
  }

  /** Sends `payload` (UTF-8, under 8000 bytes) on `channel`. */
  async notify(
    channel: string,
    payload: string,
    via: pg.Pool | pg.PoolClient = this.publisher,
  ): Promise<void> {
    checkChannel(channel);
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) {
      throw new CoordinatorError(
        'INVALID_ARGUMENT',
        `NOTIFY payload is ${Buffer.byteLength(payload)} bytes; the limit is ${MAX_NOTIFY_BYTES}`,
        'payload',
      );
    }
    await via.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /** Closes the LISTEN connection; the publisher pool belongs to the caller. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'flock-listen',
    });
    client.on('notification', (msg) => {
      for (const handler of this.handlers.get(msg.channel) ?? []) handler(msg.payload ?? '');
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('LISTEN connection ended')));
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    if (this.closed) {
      await client.end();
      throw new CoordinatorError('INTERNAL', 'notifier closed');
    }
    this.client = client;
    return client;
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.options.onError?.(err);
    client.end().catch(() => undefined);
    const again = (): void => {
      this.retry = undefined;
      if (this.closed) return;
      this.connection().then(
        () => this.options.onResync?.(),
        () => {
          this.retry = setTimeout(again, this.options.reconnectMs ?? 250);
        },
      );
    };
    this.retry = setTimeout(again, this.options.reconnectMs ?? 250);
  }
}
