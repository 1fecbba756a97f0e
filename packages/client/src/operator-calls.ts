// The coordinator's operator endpoints: volunteers, stats, circuit breakers, API keys, the audit
// log and replays. What FlockClient's methods of the same names send, over the client's transport.
import type { BreakerView, CreatedKey, KeyView, StatsView, WorkerView } from './api-types.ts';
import type { AuditPage, AuditQuery, ReplaySource, ReplayStatus, ReplayView } from './audit-types.ts';
import { FlockError } from './flock-error.ts';
import type { HttpTransport } from './http-transport.ts';

/** What `POST /v1/keys` takes. */
export interface KeyRequest {
  scopes: string[];
  name?: string;
  tenant?: string;
  signing?: boolean;
}

/** Every volunteer, page after page (1,000 a request). */
export async function allWorkers(http: HttpTransport): Promise<WorkerView[]> {
  const all: WorkerView[] = [];
  let after: string | undefined;
  do {
    const query = `?limit=1000${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
    const page = await http.json<{ workers: WorkerView[]; next?: string }>('GET', `/v1/workers${query}`);
    all.push(...page.workers);
    after = page.next;
  } while (after !== undefined);
  return all;
}

export function stats(http: HttpTransport): Promise<StatsView> {
  return http.json<StatsView>('GET', '/v1/stats');
}

export async function breakers(http: HttpTransport): Promise<BreakerView[]> {
  return (await http.json<{ breakers: BreakerView[] }>('GET', '/v1/breakers')).breakers;
}

export async function resetBreaker(
  http: HttpTransport,
  op: string,
): Promise<{ op: string; state: 'closed' }> {
  if (op === '') throw new FlockError('INVALID_ARGUMENT', 'op is empty');
  return await http.json<{ op: string; state: 'closed' }>(
    'POST',
    `/v1/breakers/${encodeURIComponent(op)}/reset`,
  );
}

export function createKey(http: HttpTransport, request: KeyRequest): Promise<CreatedKey> {
  return http.json<CreatedKey>('POST', '/v1/keys', { json: request });
}

export async function keys(http: HttpTransport, filter: { tenant?: string }): Promise<KeyView[]> {
  return (await http.json<{ keys: KeyView[] }>('GET', '/v1/keys', { query: { tenant: filter.tenant } })).keys;
}

export function revokeKey(http: HttpTransport, keyId: string): Promise<KeyView> {
  if (keyId === '') throw new FlockError('INVALID_ARGUMENT', 'keyId is empty');
  return http.json<KeyView>('DELETE', `/v1/keys/${encodeURIComponent(keyId)}`);
}

export function audit(http: HttpTransport, query: AuditQuery): Promise<AuditPage> {
  const { since, limit, ...rest } = query;
  return http.json<AuditPage>('GET', '/v1/audit', {
    query: { ...rest, since: since === undefined ? undefined : String(since), limit },
  });
}

export function replay(http: HttpTransport, source: ReplaySource): Promise<ReplayView> {
  return http.json<ReplayView>('POST', '/v1/replay', { json: source });
}

export function replayStatus(http: HttpTransport, replayId: string): Promise<ReplayStatus> {
  if (replayId === '') throw new FlockError('INVALID_ARGUMENT', 'replayId is empty');
  return http.json<ReplayStatus>('GET', `/v1/replay/${encodeURIComponent(replayId)}`);
}
