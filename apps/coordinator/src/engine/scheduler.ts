import type { Capability, Constraint } from '@flock/protocol';
import { adapterClassOf } from '../trust/adapter-class.ts';
import { needsSharedMemory, preferenceScore, unmetRequirement } from './matching.ts';

/** What the scheduler needs to know about a queued task. */
export interface SchedTask {
  uid: number;
  tenant: string;
  /** qos.priority, higher first. */
  priority: number;
  /** Absolute deadline (epoch ms); earliest first within a priority. */
  deadlineAtMs: number | undefined;
  min: Constraint | undefined;
  preferred: Constraint | undefined;
  /** What it needs warm (module hash, `library:<name>`), to prefer workers that have it (`warmKeyOf`). */
  moduleHash: string | undefined;
  /** Takes a GPU slot. */
  gpu: boolean;
  /** When it (re)entered the queue, for the assignment latency. */
  queuedAtMs: number;
  /** Workers that may not run it (they ran a replica of a verified task already). */
  excludeWorkers?: Set<string> | undefined;
  /** Verified task whose quorum still lacks a vetted worker: only vetted workers may run it. */
  needsVetted?: boolean | undefined;
  /** Homogeneous verified task: only workers of this adapter class (`adapterClassOf`). */
  adapterClass?: string | undefined;
  /** The tail of its campaign: workers far slower than the others, left out while faster ones exist. */
  avoid?: Set<string> | undefined;
}

/** A connected worker as the scheduler sees it; `running*` are updated by `assign`. */
export interface SchedWorker {
  workerId: string;
  capability: Capability;
  /** What it has warm (`warmKeysOf`): cached module hashes and loaded libraries. */
  cachedModules: Set<string>;
  runningCpu: number;
  runningGpu: number;
  /** Cap on concurrent leases whatever the worker advertises. */
  maxSlots: number;
  /** (succeeded + 1) / (succeeded + failed + 2). */
  reliability: number;
  /** Backpressure or closing: take no new work now. */
  blocked: boolean;
  /** Passed a known-answer check (trust); unset counts as not vetted. */
  vetted?: boolean | undefined;
  /** Recent lease-to-result time of its successes (moving average), ms; unset until its first. */
  turnaroundMs?: number | undefined;
}

/**
 * Leases a worker may hold beyond its running slots: jobs it queues in its executors' inboxes
 * (`capability.prefetch`), at most one per slot.
 */
export function prefetchOf(cap: SchedWorker['capability']): number {
  return Math.min(cap.prefetch ?? 0, (cap.cpu_slots ?? 0) + (cap.gpu_slots ?? 0));
}

/**
 * Free slots of the given kind: within the advertised slots plus prefetch, the cap, and not
 * paused. A kind may hold its slots plus the prefetch; all kinds together the slots plus the
 * prefetch, never more than the cap.
 */
export function freeSlots(w: SchedWorker, gpu: boolean): number {
  const cap = w.capability;
  if (cap.paused || w.blocked) return 0;
  const cpuSlots = cap.cpu_slots ?? 0;
  const gpuSlots = cap.gpu_slots ?? 0;
  const prefetch = prefetchOf(cap);
  const total = Math.min(w.maxSlots, cpuSlots + gpuSlots + prefetch) - (w.runningCpu + w.runningGpu);
  const typed = gpu
    ? (gpuSlots > 0 ? gpuSlots + prefetch : 0) - w.runningGpu
    : (cpuSlots > 0 ? cpuSlots + prefetch : 0) - w.runningCpu;
  return Math.max(0, Math.min(total, typed));
}

/**
 * Whether two requirement objects have the same fields with the same plain values; false when a
 * value is an object (a GPU descriptor: compared by its JSON instead).
 */
function sameFlat(a: object | undefined, b: object | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  let fields = 0;
  for (const key in a) {
    const value = (a as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null) return false;
    if (value !== (b as Record<string, unknown>)[key]) return false;
    fields += 1;
  }
  for (const _ in b) fields -= 1;
  return fields === 0;
}

/** Whether the worker has a free slot of either kind. */
function hasFreeSlot(w: SchedWorker): boolean {
  return freeSlots(w, false) > 0 || freeSlots(w, true) > 0;
}

/**
 * `out` emptied and refilled with the `from` that pass `keep`, in order, in place: an array
 * kept for the purpose grows once to its size and then allocates nothing (a `filter` made a new
 * array, grown step by step, every pass).
 */
function refill<W>(out: W[], from: readonly W[], keep: (w: W) => boolean): W[] {
  let n = 0;
  for (let i = 0; i < from.length; i++) {
    const w = from[i]!;
    if (keep(w)) out[n++] = w;
  }
  out.length = n;
  return out;
}

/** Whether any of the workers has a free slot of the kind. */
function anyFree(workers: readonly SchedWorker[], gpu: boolean): boolean {
  for (let i = 0; i < workers.length; i++) if (freeSlots(workers[i]!, gpu) > 0) return true;
  return false;
}

/** Whether the task may run only on some of the workers its class could run on. */
function restricted(task: SchedTask): boolean {
  return (
    task.excludeWorkers !== undefined ||
    task.needsVetted === true ||
    task.adapterClass !== undefined ||
    task.avoid !== undefined
  );
}

/** Whether a worker could ever run the task (ignoring how busy it is). */
export function eligible(w: SchedWorker, t: Pick<SchedTask, 'min' | 'gpu'>): boolean {
  const cap = w.capability;
  if (unmetRequirement(cap, t.min) !== undefined) return false;
  if (needsSharedMemory(t.min) && !cap.cross_origin_isolated) return false;
  if (t.gpu && !(cap.gpu_slots && cap.webgpu)) return false;
  return true;
}

/** A binary min-heap over a comparator. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    // Sifted by moving parents down into the hole (a destructuring swap allocated an array a step).
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p]!;
      if (!this.before(item, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      // `last` sinks from the root: the smaller child moves up into the hole until `last` fits.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = l < a.length && this.before(a[l]!, last) ? l : i;
        if (r < a.length && this.before(a[r]!, m === i ? last : a[m]!)) m = r;
        if (m === i) break;
        a[i] = a[m]!;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

interface Entry {
  task: SchedTask;
  seq: number;
}

/** Priority desc, then deadline asc (none last), then arrival. */
const taskBefore = (a: Entry, b: Entry): boolean => {
  if (a.task.priority !== b.task.priority) return a.task.priority > b.task.priority;
  const da = a.task.deadlineAtMs ?? Number.POSITIVE_INFINITY;
  const db = b.task.deadlineAtMs ?? Number.POSITIVE_INFINITY;
  if (da !== db) return da < db;
  return a.seq < b.seq;
};

/** Tasks with the same requirements share a class: eligibility is computed once per class. */
interface TaskClass {
  key: string;
  sample: SchedTask;
  byTenant: Map<string, Heap<Entry>>;
  /** `byTenant`'s entries in order (it only grows): walked by every pick without an iterator. */
  tenants: Array<{ tenant: string; heap: Heap<Entry> }>;
}

/** A class in one pass: its eligible workers, until none of them has a free slot (`live`). */
interface Candidate<W extends SchedWorker> {
  klass: TaskClass;
  workers: W[];
  live: boolean;
}

/** One decision of a dispatch pass: this task goes to this worker. */
export interface Match<W extends SchedWorker = SchedWorker> {
  task: SchedTask;
  worker: W;
}

/**
 * The queue of runnable tasks and the matching of tasks to workers' free slots.
 *
 * Rules, in order: a worker must meet `requirements.min` (and have SharedArrayBuffer for tasks
 * that need it, a GPU slot for GPU tasks); tenants share fairly (the tenant with the fewest
 * running tasks, then the least recently served, goes first); within a tenant, higher
 * `qos.priority` first, then earliest deadline, then arrival order. The task goes to the eligible
 * worker with a free slot that scores best: `preferred` fields met, module cached, reliability.
 * A tenant already running `maxRunningPerTenant` tasks (when set) gets no more until one ends.
 */
export class Scheduler {
  private readonly classes = new Map<string, TaskClass>();
  private readonly queued = new Map<number, Entry>();
  private readonly tenantRunning = new Map<string, number>();
  private readonly tenantServed = new Map<string, number>();
  private seq = 0;
  /** The class the last task queued went to (`classOf`). */
  private lastClass: TaskClass | undefined;
  /** Most tasks one tenant may run at once on this coordinator's workers; 0: no limit. */
  private maxRunningPerTenant = 0;
  /**
   * A pass's lists, kept between passes and refilled in place (`refill`): with 200 workers and a
   * pass or more a task, new arrays of them were a third of a paced task's garbage.
   */
  private readonly open: SchedWorker[] = [];
  private readonly passCandidates: Array<Candidate<SchedWorker>> = [];

  /** Caps the tasks one tenant runs at once (FLOCK_TENANT_MAX_RUNNING; 0: no cap). */
  limitTenants(maxRunning: number): void {
    this.maxRunningPerTenant = maxRunning;
  }

  get size(): number {
    return this.queued.size;
  }

  has(uid: number): boolean {
    return this.queued.has(uid);
  }

  get(uid: number): SchedTask | undefined {
    return this.queued.get(uid)?.task;
  }

  /** Adds a runnable task. */
  enqueue(task: SchedTask): void {
    if (this.queued.has(task.uid)) return;
    const entry: Entry = { task, seq: ++this.seq };
    this.queued.set(task.uid, entry);
    const klass = this.classOf(task);
    let heap = klass.byTenant.get(task.tenant);
    if (!heap) {
      heap = new Heap(taskBefore);
      klass.byTenant.set(task.tenant, heap);
      klass.tenants.push({ tenant: task.tenant, heap });
    }
    heap.push(entry);
  }

  /**
   * The class of a task's requirements. A campaign's tasks mostly share them, so the class of the
   * task queued before is tried first by comparing fields, and the JSON key is built only when
   * that fails (it was a string and an array for every task queued).
   */
  private classOf(task: SchedTask): TaskClass {
    const last = this.lastClass;
    if (
      last &&
      last.sample.gpu === task.gpu &&
      sameFlat(last.sample.min, task.min) &&
      sameFlat(last.sample.preferred, task.preferred) &&
      this.classes.get(last.key) === last
    )
      return last;
    const key = JSON.stringify([task.min ?? null, task.preferred ?? null, task.gpu]);
    let klass = this.classes.get(key);
    if (!klass) {
      klass = { key, sample: task, byTenant: new Map(), tenants: [] };
      this.classes.set(key, klass);
    }
    this.lastClass = klass;
    return klass;
  }

  /** Removes a task (cancelled, deadline); heaps drop it lazily. */
  remove(uid: number): boolean {
    return this.queued.delete(uid);
  }

  /** Running-task counts per tenant, for fair share; the coordinator keeps them current. */
  setRunning(tenant: string, delta: number): void {
    const n = (this.tenantRunning.get(tenant) ?? 0) + delta;
    if (n <= 0) this.tenantRunning.delete(tenant);
    else this.tenantRunning.set(tenant, n);
  }

  private head(heap: Heap<Entry>): Entry | undefined {
    for (;;) {
      const top = heap.peek();
      if (!top) return undefined;
      if (this.queued.get(top.task.uid) === top) return top;
      heap.pop();
    }
  }

  /**
   * Matches queued tasks to the workers' free slots. Returns the picks in order and updates the
   * workers' running counts; the caller starts the leases (and undoes a pick that fails).
   */
  assign<W extends SchedWorker>(workers: W[]): Array<Match<W>> {
    const picks: Array<Match<W>> = [];
    if (this.queued.size === 0) return picks;
    const open = refill(this.open as W[], workers, hasFreeSlot);
    if (open.length === 0) return picks;

    const candidates = this.candidates(open);
    // Tasks set aside for this pass: every free worker is one they exclude.
    const deferred: Array<[Heap<Entry>, Entry]> = [];
    // Once per task handed out: the best head is kept in locals and arrays are walked by index,
    // so a pick allocates nothing but itself (entry pairs, tuples, iterators, closures did).
    for (;;) {
      let best: Candidate<W> | undefined;
      let queue: TaskClass['tenants'][number] | undefined;
      let entry: Entry | undefined;
      let bestRunning = 0;
      let bestServed = 0;
      for (let c = 0; c < candidates.length; c++) {
        const candidate = candidates[c]!;
        if (!candidate.live) continue;
        if (!anyFree(candidate.workers, candidate.klass.sample.gpu)) {
          candidate.live = false;
          continue;
        }
        const tenants = candidate.klass.tenants;
        for (let q = 0; q < tenants.length; q++) {
          const { tenant, heap } = tenants[q]!;
          const running = this.tenantRunning.get(tenant) ?? 0;
          if (this.maxRunningPerTenant > 0 && running >= this.maxRunningPerTenant) continue;
          const head = this.head(heap);
          if (!head) continue;
          const served = this.tenantServed.get(tenant) ?? 0;
          const better =
            !entry ||
            running < bestRunning ||
            (running === bestRunning && served < bestServed) ||
            (running === bestRunning && served === bestServed && taskBefore(head, entry));
          if (better) {
            best = candidate;
            queue = tenants[q];
            entry = head;
            bestRunning = running;
            bestServed = served;
          }
        }
      }
      if (!best || !queue || !entry) break;
      const { tenant, heap } = queue;
      const task = entry.task;
      const worker = this.bestWorker(best.workers, task);
      if (!worker) {
        if (restricted(task) && anyFree(best.workers, task.gpu)) {
          // Only this task's own restrictions (a replica must run on another worker, a vetted one,
          // or one of an adapter class) rule out the free workers: set it aside for this pass
          // rather than stall the tasks queued behind it.
          heap.pop();
          deferred.push([heap, entry]);
          continue;
        }
        best.live = false;
        continue;
      }
      this.queued.delete(task.uid);
      heap.pop();
      if (task.gpu) worker.runningGpu += 1;
      else worker.runningCpu += 1;
      this.setRunning(tenant, 1);
      this.tenantServed.set(tenant, ++this.seq);
      picks.push({ task, worker });
    }
    for (const [heap, entry] of deferred) heap.push(entry);
    return picks;
  }

  /**
   * Each class with queued tasks and its eligible workers, worked out once per pass. The array,
   * its entries and their worker lists are the last pass's, refilled: a pass reads them only.
   */
  private candidates<W extends SchedWorker>(open: W[]): Array<Candidate<W>> {
    const candidates = this.passCandidates as Array<Candidate<W>>;
    let n = 0;
    for (const klass of this.classes.values()) {
      let any = false;
      for (const heap of klass.byTenant.values()) if (this.head(heap)) any = true;
      if (!any) {
        this.classes.delete(klass.key);
        continue;
      }
      const reused = candidates[n];
      const list = refill(reused?.workers ?? [], open, (w) => eligible(w, klass.sample));
      if (list.length === 0) continue;
      if (reused) {
        reused.klass = klass;
        reused.live = true;
      } else candidates[n] = { klass, workers: list, live: true };
      n += 1;
    }
    candidates.length = n;
    return candidates;
  }

  private bestWorker<W extends SchedWorker>(list: W[], task: SchedTask): W | undefined {
    let best: W | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      const free = freeSlots(w, task.gpu);
      if (free === 0 || task.excludeWorkers?.has(w.workerId) || task.avoid?.has(w.workerId)) continue;
      if (task.needsVetted && !w.vetted) continue;
      if (task.adapterClass && adapterClassOf(w.capability, task.gpu ? 'gpu' : 'cpu') !== task.adapterClass)
        continue;
      let score = preferenceScore(w.capability, task.preferred) * 10;
      if (task.moduleHash && w.cachedModules.has(task.moduleHash)) score += 5;
      score += w.reliability * 4;
      // Spread load: among equals, the worker with more free slots.
      score += free * 0.01;
      if (score > bestScore) {
        bestScore = score;
        best = w;
      }
    }
    return best;
  }

  /** Why a queued task is not running: no eligible worker, all busy, or paused. */
  waitingReason(task: SchedTask, workers: SchedWorker[]): string {
    if (workers.length === 0) return 'no volunteers are connected';
    const running = this.tenantRunning.get(task.tenant) ?? 0;
    if (this.maxRunningPerTenant > 0 && running >= this.maxRunningPerTenant)
      return `this tenant runs ${running} tasks, its limit (FLOCK_TENANT_MAX_RUNNING)`;
    const reasons = new Map<string, number>();
    let eligibleCount = 0;
    for (const w of workers) {
      const unmet = unmetRequirement(w.capability, task.min);
      if (unmet !== undefined) reasons.set(unmet, (reasons.get(unmet) ?? 0) + 1);
      else if (needsSharedMemory(task.min) && !w.capability.cross_origin_isolated) {
        const r = 'SharedArrayBuffer (tab not cross-origin isolated)';
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      } else if (task.gpu && !(w.capability.gpu_slots && w.capability.webgpu)) {
        reasons.set('a GPU slot', (reasons.get('a GPU slot') ?? 0) + 1);
      } else eligibleCount += 1;
    }
    if (eligibleCount === 0) {
      const [first] = [...reasons.entries()].sort((a, b) => b[1] - a[1]);
      return `no connected worker meets ${first?.[0] ?? 'the requirements'} (${workers.length} connected)`;
    }
    // A verified task's next replica: a worker it has not run on, vetted, of its adapter class.
    const able = workers.filter((w) => eligible(w, task));
    const fresh = able.filter((w) => !task.excludeWorkers?.has(w.workerId));
    if (task.excludeWorkers && fresh.length === 0) {
      return `verification: needs a replica from another volunteer (all ${able.length} eligible ran it)`;
    }
    const vetted = fresh.filter((w) => !task.needsVetted || w.vetted);
    if (vetted.length === 0) {
      return 'verification: the agreeing replicas need confirming by a verified volunteer (none connected)';
    }
    const sameClass = vetted.filter(
      (w) =>
        !task.adapterClass || adapterClassOf(w.capability, task.gpu ? 'gpu' : 'cpu') === task.adapterClass,
    );
    if (sameClass.length === 0)
      return `verification: needs a volunteer on ${task.adapterClass} (homogeneous)`;
    const fast = sameClass.filter((w) => !task.avoid?.has(w.workerId));
    if (fast.length === 0)
      return `campaign tail: waiting for a faster volunteer (${sameClass.length} slow ones left out)`;
    const paused = sameClass.filter((w) => w.capability.paused).length;
    if (paused === sameClass.length) return `all ${sameClass.length} eligible workers are paused`;
    return `all ${sameClass.length} eligible workers are busy`;
  }
}
