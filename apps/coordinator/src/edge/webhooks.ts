// Webhooks for `return_channel` URLs: each terminal event of such a task (or workflow) is stored
// as a delivery (webhook-store.ts) and posted, signed, until a 2xx, a refusal that retrying would
// not change, or the attempts or time run out. The stored rows make deliveries survive restarts
// and are the log `GET /v1/webhooks/deliveries` shows.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { DeliveryNext, DeliveryRecord, WebhookStore } from '../store/webhook-store.ts';
import type { WebhookSettings } from '../webhook-config.ts';
import type { TaskEvent } from './events-hub.ts';
import { outboxKindOf } from './webhook-outbox.ts';
import {
  type PostOutcome,
  postWebhook,
  SIGNATURE_HEADER,
  tenantWebhookSecret,
  webhookSignature,
} from './webhook-post.ts';
import { isWebhookChannel } from './webhook-targets.ts';

/** How often due deliveries are looked for besides the local timers (rows from before a restart, or another coordinator's). */
export const WEBHOOK_POLL_MS = 1000;
/** Attempts in flight at once; a slow receiver holds one slot for at most its time limit. */
const MAX_IN_FLIGHT = 32;
/** A claim outlasts its attempt's time limit by this, ms. */
const CLAIM_GRACE_MS = 5000;
/**
 * Fault injection for the crash tests, never set in production: an event topic
 * (`compute:dispatch:v1:success`...) whose first webhook kills the process with SIGKILL after its
 * terminal transition committed and before its delivery is stored.
 */
const FAULT_KILL_BEFORE_DELIVERY = process.env.FLOCK_FAULT_KILL_BEFORE_WEBHOOK;

/**
 * The wait before retry `n` (n ≥ 1): base·2^(n−1) capped at `maxMs`, with equal jitter (a random
 * point in its upper half), so receivers that failed together are not retried together.
 */
export function webhookBackoffMs(n: number, baseMs: number, maxMs: number, random = Math.random): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 40));
  return Math.round(full / 2 + random() * (full / 2));
}

/** Where an attempt leaves its delivery (attempts made so far `n`, this one included). */
export function nextAfter(
  outcome: PostOutcome,
  n: number,
  createdAtMs: number,
  nowMs: number,
  settings: WebhookSettings,
  random = Math.random,
): DeliveryNext {
  if (outcome.delivered) return { state: 'delivered' };
  if (!outcome.retryable || n >= settings.webhookMaxAttempts) return { state: 'failed' };
  const wait =
    outcome.retryAfterMs !== undefined
      ? Math.min(settings.webhookRetryMaxMs, outcome.retryAfterMs)
      : webhookBackoffMs(n, settings.webhookRetryBaseMs, settings.webhookRetryMaxMs, random);
  const at = nowMs + wait;
  if (at > createdAtMs + settings.webhookGiveUpMs) return { state: 'failed' };
  return { state: 'pending', nextAttemptAtMs: at };
}

/** What the deliveries' retention follows: the tasks' (FLOCK_RETENTION_DAYS, every FLOCK_BLOB_GC_MS). */
export interface WebhookRetention {
  retentionDays: number;
  blobGcIntervalMs: number;
}

export class Webhooks {
  /** This process's claims are made in its name. */
  private readonly owner = randomUUID();
  private master: string | undefined;
  private poll: NodeJS.Timeout | undefined;
  private retention: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private pass: Promise<void> | undefined;
  private again = false;
  /** Attempts posting now; each frees its slot and looks for more when it ends. */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private readonly abort = new AbortController();
  /** Insertions not yet stored (awaited by stop). */
  private readonly inserting = new Set<Promise<void>>();

  constructor(
    private readonly store: WebhookStore,
    private readonly settings: WebhookSettings & WebhookRetention,
    private readonly log: Logger,
    registry?: Registry,
  ) {
    this.attempts = new Counter({
      name: 'flock_webhook_attempts_total',
      help: 'Webhook POSTs by outcome: delivered, retry (failed, another attempt is due), failed (given up).',
      labelNames: ['outcome'],
      registers: registry ? [registry] : [],
    });
  }

  /** `flock_webhook_attempts_total{outcome}`. */
  private readonly attempts: Counter<'outcome'>;

  /** Reads (or makes and stores) the master secret and starts looking for due deliveries. */
  async start(): Promise<void> {
    this.master =
      this.settings.webhookSecret ?? (await this.store.masterSecret(randomBytes(32).toString('hex')));
    this.poll = setInterval(() => this.kick(), WEBHOOK_POLL_MS);
    this.poll.unref();
    const { retentionDays, blobGcIntervalMs } = this.settings;
    if (retentionDays > 0 && blobGcIntervalMs > 0) {
      this.retention = setInterval(() => void this.purge(), blobGcIntervalMs);
      this.retention.unref();
    }
    this.kick();
  }

  /** The secret a tenant's receivers verify `Flock-Signature` with. */
  secretFor(tenant: string): string {
    if (this.master === undefined) throw new Error('webhooks not started');
    return tenantWebhookSecret(this.master, tenant);
  }

  /** The events hub's sink: a terminal event of a task whose return_channel is a URL becomes a delivery. */
  readonly onTerminal = (event: TaskEvent, body: () => string): void => {
    if (this.stopped || !isWebhookChannel(event.returnChannel)) return;
    if (event.topic === FAULT_KILL_BEFORE_DELIVERY) process.kill(process.pid, 'SIGKILL');
    // The task's outbox row goes in the same write (edge/webhook-outbox.ts).
    const delivery = {
      tenant: event.tenant,
      taskId: event.taskId,
      event: event.topic,
      url: event.returnChannel,
      body: body(),
      createdAtMs: Date.now(),
    };
    const stored = this.store
      .insert(delivery, outboxKindOf(event.topic))
      .then(
        () => this.kick(),
        (err: unknown) => this.log.error({ err, task: event.taskId }, 'webhook delivery not stored'),
      )
      .finally(() => this.inserting.delete(stored));
    this.inserting.add(stored);
  };

  /** Claims what is due now, as far as free slots allow (or once more after the running claim). */
  kick(): void {
    if (this.stopped || this.master === undefined) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.runPasses().finally(() => {
      this.pass = undefined;
    });
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      const room = MAX_IN_FLIGHT - this.inFlight.size;
      if (room <= 0) return;
      const now = Date.now();
      const until = now + this.settings.webhookTimeoutMs + CLAIM_GRACE_MS;
      let claimed: DeliveryRecord[];
      try {
        claimed = await this.store.claimDue(this.owner, now, until, room);
      } catch (err) {
        this.log.warn({ err }, 'webhook deliveries could not be claimed');
        return;
      }
      if (this.stopped) return;
      for (const d of claimed) {
        const posting: Promise<void> = this.attempt(d)
          .catch((err: unknown) => this.log.error({ err, delivery: d.id }, 'webhook attempt failed'))
          .finally(() => {
            this.inFlight.delete(posting);
            this.kick();
          });
        this.inFlight.add(posting);
      }
      if (claimed.length === room) this.again = true;
    } while (this.again && !this.stopped);
  }

  private async attempt(d: DeliveryRecord): Promise<void> {
    const atMs = Date.now();
    const n = d.attempts.length + 1;
    const outcome = await postWebhook(
      {
        url: d.url,
        body: d.body,
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'flock-webhooks/1',
          [SIGNATURE_HEADER]: webhookSignature(d.body, this.secretFor(d.tenant), Math.floor(atMs / 1000)),
          'Flock-Webhook-Id': String(d.id),
          'Flock-Webhook-Attempt': String(n),
        },
        signal: this.abort.signal,
      },
      this.settings,
    );
    // Stopping mid-attempt: nothing is recorded; the claim lapses and the attempt is made again.
    if (this.stopped) return;
    const next = nextAfter(outcome, n, d.createdAtMs, Date.now(), this.settings);
    const attempt = { atMs, status: outcome.status, error: outcome.error };
    const kept = await this.store.recordAttempt(d.id, this.owner, attempt, next).catch((err: unknown) => {
      this.log.warn({ err, delivery: d.id }, 'webhook attempt not recorded');
      return false;
    });
    if (!kept) return;
    this.attempts.inc({ outcome: next.state === 'pending' ? 'retry' : next.state });
    if (next.state === 'pending') this.wakeAt(next.nextAttemptAtMs);
    const fields = {
      delivery: d.id,
      task: d.taskId,
      attempt: n,
      status: outcome.status,
      error: outcome.error,
    };
    if (next.state === 'failed') this.log.warn(fields, 'webhook delivery gave up');
    else if (next.state === 'pending') this.log.info(fields, 'webhook attempt failed; will retry');
  }

  /** A pass at `atMs` (sooner than the poll when retries are quick). */
  private wakeAt(atMs: number): void {
    if (this.stopped || atMs >= this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAtMs = Number.POSITIVE_INFINITY;
        this.kick();
      },
      Math.max(0, atMs - Date.now()),
    );
    this.timer.unref();
  }

  /**
   * Deletes the finished deliveries older than FLOCK_RETENTION_DAYS (their tasks go at the same
   * age); returns how many. Pending ones stay: they end by FLOCK_WEBHOOK_GIVE_UP_MS.
   */
  async purge(nowMs = Date.now()): Promise<number> {
    if (this.settings.retentionDays === 0) return 0;
    const before = nowMs - this.settings.retentionDays * 24 * 3600_000;
    let purged = 0;
    try {
      for (let round = 0; round < 100; round++) {
        const n = await this.store.purge(before, 1000);
        purged += n;
        if (n < 1000) break;
      }
    } catch (err) {
      this.log.error({ err }, 'webhook deliveries not purged');
    }
    return purged;
  }

  /**
   * Stops posting: attempts in flight are abandoned unrecorded and their claims given up, so they
   * are made again at once after a restart or by another coordinator.
   */
  async stop(): Promise<void> {
    await Promise.all([...this.inserting]);
    this.stopped = true;
    this.abort.abort();
    if (this.poll) clearInterval(this.poll);
    if (this.retention) clearInterval(this.retention);
    if (this.timer) clearTimeout(this.timer);
    await this.pass;
    await Promise.all([...this.inFlight]);
    // The abandoned attempts are due again at once (after a restart, or on another coordinator).
    await this.store.release(this.owner).catch((err: unknown) => {
      this.log.warn({ err }, 'webhook claims not released');
    });
  }
}
