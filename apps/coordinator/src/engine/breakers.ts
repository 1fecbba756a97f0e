// Circuit breakers per tenant and op: an op whose tasks fail non-retryably on
// FLOCK_BREAKER_FAILURES distinct workers in a row is broken for that tenant, not unlucky. Its
// queued tasks are held out of the queue (waiting_reason says why) until the cool-down lets one
// through (half-open: its success closes the breaker, its failure opens it again) or the
// requester resets it.
import type { Engine } from './engine.ts';
import { NOTICES } from './notices.ts';
import type { OpenTask } from './open-task.ts';

type BreakerState = 'closed' | 'open' | 'half-open';

interface Breaker {
  tenant: string;
  op: string;
  state: BreakerState;
  /** Distinct workers with a non-retryable failure since the last success. */
  failedOn: Set<string>;
  lastCode: string;
  openedAtMs: number;
  /** Queued tasks held while open, by uid. */
  held: Set<number>;
  /** Half-open: the one task let through. */
  probe: number | undefined;
}

/** A breaker as `GET /v1/breakers` shows it. */
export interface BreakerView {
  op: string;
  state: BreakerState;
  failed_workers: number;
  last_code: string;
  opened_at_ms?: number;
  retry_at_ms?: number;
  held_tasks: number;
}

export class Breakers {
  private readonly byKey = new Map<string, Breaker>();
  /** Held task uids to their breaker. */
  private readonly heldBy = new Map<number, Breaker>();

  constructor(private readonly e: Engine) {}

  /** Whether the task may join the queue now; false: it is held (the breaker keeps it). */
  admit(task: OpenTask): boolean {
    // No breaker yet (no non-retryable failure so far): no key string to join for the lookup.
    if (this.byKey.size === 0) return true;
    const b = this.byKey.get(keyOf(task.tenant, task.op));
    if (!b || b.state === 'closed' || b.probe === task.uid) return true;
    if (b.state === 'half-open' && b.probe === undefined) {
      b.probe = task.uid;
      return true;
    }
    b.held.add(task.uid);
    this.heldBy.set(task.uid, b);
    return false;
  }

  /** A task's attempt failed non-retryably (`code`) on `workerId`. */
  failed(task: OpenTask, workerId: string, code: string, now: number): void {
    if (this.e.config.breakerFailures === 0) return;
    const b = this.breaker(task.tenant, task.op);
    b.lastCode = code;
    b.failedOn.add(workerId);
    if (b.state === 'half-open' && b.probe === task.uid) this.open(b, now);
    else if (b.state === 'closed' && b.failedOn.size >= this.e.config.breakerFailures) this.open(b, now);
  }

  /** A task of the op succeeded: the op works; its breaker closes. */
  succeeded(task: OpenTask): void {
    if (this.byKey.size === 0) return;
    const b = this.byKey.get(keyOf(task.tenant, task.op));
    if (!b) return;
    b.failedOn.clear();
    if (b.state !== 'closed') this.close(b, 'a task succeeded');
  }

  /** The task left the engine (finished, cancelled): nothing holds it any more. */
  forget(uid: number): void {
    const b = this.heldBy.get(uid);
    if (b) b.held.delete(uid);
    this.heldBy.delete(uid);
  }

  /** Why a held task waits, or undefined when it is not held. */
  waitingReason(uid: number): string | undefined {
    const b = this.heldBy.get(uid);
    if (!b) return undefined;
    const at = new Date(b.openedAtMs + this.e.config.breakerCooldownMs).toISOString();
    return (
      `held: op ${b.op} failed non-retryably on ${b.failedOn.size} distinct volunteers in a row ` +
      `(last ${b.lastCode}); one task is let through at ${at}, or reset it with POST /v1/breakers/${encodeURIComponent(b.op)}/reset`
    );
  }

  /** Called by the tick: open breakers past their cool-down let one task through. */
  tick(now: number): void {
    for (const b of this.byKey.values()) {
      if (b.state !== 'open' || now < b.openedAtMs + this.e.config.breakerCooldownMs) continue;
      b.state = 'half-open';
      b.probe = undefined;
      const first = [...b.held][0];
      if (first !== undefined) this.release(b, [first]);
    }
  }

  /** The requester resets the breaker of its `op`: closed, its tasks queued. False if none is open. */
  reset(tenant: string, op: string): boolean {
    const b = this.byKey.get(keyOf(tenant, op));
    if (!b || b.state === 'closed') return false;
    b.failedOn.clear();
    this.close(b, 'reset by the requester');
    return true;
  }

  /** The tenant's breakers that are not closed, or have failures counted. */
  list(tenant: string, now = Date.now()): BreakerView[] {
    const out: BreakerView[] = [];
    for (const b of this.byKey.values()) {
      if (b.tenant !== tenant || (b.state === 'closed' && b.failedOn.size === 0)) continue;
      const view: BreakerView = {
        op: b.op,
        state: b.state,
        failed_workers: b.failedOn.size,
        last_code: b.lastCode,
        held_tasks: b.held.size,
      };
      if (b.state !== 'closed') {
        view.opened_at_ms = b.openedAtMs;
        view.retry_at_ms = Math.max(now, b.openedAtMs + this.e.config.breakerCooldownMs);
      }
      out.push(view);
    }
    return out.sort((a, b) => (a.op < b.op ? -1 : 1));
  }

  private breaker(tenant: string, op: string): Breaker {
    const key = keyOf(tenant, op);
    let b = this.byKey.get(key);
    if (!b) {
      b = {
        tenant,
        op,
        state: 'closed',
        failedOn: new Set(),
        lastCode: '',
        openedAtMs: 0,
        held: new Set(),
        probe: undefined,
      };
      this.byKey.set(key, b);
    }
    return b;
  }

  private open(b: Breaker, now: number): void {
    b.state = 'open';
    b.openedAtMs = now;
    b.probe = undefined;
    // Its queued tasks leave the queue and wait here.
    for (const task of this.e.open.values()) {
      if (task.tenant !== b.tenant || task.op !== b.op || !this.e.scheduler.has(task.uid)) continue;
      this.e.scheduler.remove(task.uid);
      b.held.add(task.uid);
      this.heldBy.set(task.uid, b);
    }
    this.e.metrics.breakerOpen.set({ tenant: b.tenant, op: b.op }, 1);
    this.e.log.warn(
      { tenant: b.tenant, op: b.op, workers: b.failedOn.size, code: b.lastCode },
      'breaker opened',
    );
    this.e.events.publishNotice({
      topic: NOTICES.breakerOpened,
      tenant: b.tenant,
      payload: { op: b.op, failed_workers: b.failedOn.size, last_code: b.lastCode, held_tasks: b.held.size },
    });
  }

  private close(b: Breaker, why: string): void {
    b.state = 'closed';
    b.probe = undefined;
    this.release(b, [...b.held]);
    this.e.metrics.breakerOpen.set({ tenant: b.tenant, op: b.op }, 0);
    this.e.events.publishNotice({
      topic: NOTICES.breakerClosed,
      tenant: b.tenant,
      payload: { op: b.op, why },
    });
  }

  /** Held tasks back into the queue (those still queued in this process). */
  private release(b: Breaker, uids: number[]): void {
    const now = Date.now();
    for (const uid of uids) {
      b.held.delete(uid);
      this.heldBy.delete(uid);
      const task = this.e.open.get(uid);
      if (task?.state === 'queued') {
        if (b.state === 'half-open') b.probe = uid;
        this.e.transitions.makeRunnable(task, now);
      }
    }
  }
}

const keyOf = (tenant: string, op: string): string => `${tenant}\u0000${op}`;
