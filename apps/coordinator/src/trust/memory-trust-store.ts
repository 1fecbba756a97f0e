import {
  MAX_UNCONFIRMED,
  type Reputation,
  type SpotCheckRecord,
  type TaskVerification,
  type TrustStore,
  type UnconfirmedResult,
  type WorkerStanding,
} from './trust-store.ts';

function repKey(workerId: string, moduleHash: string, adapterClass: string): string {
  return JSON.stringify([workerId, moduleHash, adapterClass]);
}

/**
 * TrustStore in memory, for tests and the simulation. Records are copied in and out
 * (structuredClone) so the engine cannot rely on sharing objects with its store.
 */
export class MemoryTrustStore implements TrustStore {
  private readonly reputations = new Map<string, Reputation>();
  private readonly standings = new Map<string, WorkerStanding>();
  private readonly tasks = new Map<string, TaskVerification>();
  private readonly checks = new Map<string, SpotCheckRecord>();
  private readonly unconfirmed = new Map<string, UnconfirmedResult[]>();

  async getReputation(
    workerId: string,
    moduleHash: string,
    adapterClass: string,
  ): Promise<Reputation | undefined> {
    const rep = this.reputations.get(repKey(workerId, moduleHash, adapterClass));
    return rep && structuredClone(rep);
  }
  async putReputation(rep: Reputation): Promise<void> {
    this.reputations.set(repKey(rep.workerId, rep.moduleHash, rep.adapterClass), structuredClone(rep));
  }
  async listReputations(workerId: string): Promise<Reputation[]> {
    const key = (r: Reputation) => `${r.moduleHash}\u0000${r.adapterClass}`;
    return [...this.reputations.values()]
      .filter((r) => r.workerId === workerId)
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
      .map((r) => structuredClone(r));
  }

  async getStanding(workerId: string): Promise<WorkerStanding | undefined> {
    const s = this.standings.get(workerId);
    return s && structuredClone(s);
  }
  async putStanding(standing: WorkerStanding): Promise<void> {
    this.standings.set(standing.workerId, structuredClone(standing));
  }
  async listStandings(): Promise<WorkerStanding[]> {
    return [...this.standings.values()]
      .sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0))
      .map((s) => structuredClone(s));
  }

  async addUnconfirmed(workerId: string, entry: UnconfirmedResult): Promise<void> {
    const list = this.unconfirmed.get(workerId) ?? [];
    this.unconfirmed.set(workerId, list);
    list.push({ ...entry });
    if (list.length > MAX_UNCONFIRMED) list.splice(0, list.length - MAX_UNCONFIRMED);
  }
  async listUnconfirmed(workerId: string): Promise<UnconfirmedResult[]> {
    return (this.unconfirmed.get(workerId) ?? []).map((e) => ({ ...e }));
  }
  async clearUnconfirmed(workerId: string): Promise<void> {
    this.unconfirmed.delete(workerId);
  }

  async getTask(taskId: string): Promise<TaskVerification | undefined> {
    const t = this.tasks.get(taskId);
    return t && structuredClone(t);
  }
  async putTask(task: TaskVerification): Promise<void> {
    this.tasks.set(task.taskId, structuredClone(task));
  }
  async deleteTask(taskId: string): Promise<void> {
    this.tasks.delete(taskId);
  }

  async getCheck(checkId: string): Promise<SpotCheckRecord | undefined> {
    const c = this.checks.get(checkId);
    return c && structuredClone(c);
  }
  async putCheck(check: SpotCheckRecord): Promise<void> {
    this.checks.set(check.checkId, structuredClone(check));
  }
  async deleteCheck(checkId: string): Promise<void> {
    this.checks.delete(checkId);
  }
}
