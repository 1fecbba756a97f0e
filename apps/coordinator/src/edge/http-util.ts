import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoordinatorConfig } from '../config.ts';
import type { Coordinator } from '../engine/coordinator.ts';
import { CoordinatorError } from '../errors.ts';
import type { ModuleMeter } from './module-meter.ts';
import type { Scopes } from './scopes.ts';
import type { TenantLimits } from './tenant-limits.ts';
import type { Webhooks } from './webhooks.ts';

/** Largest page of `GET /v1/tasks` (and `GET /v1/workers`). */
export const MAX_LIST_LIMIT = 1000;

/** What the REST handlers share: the engine, the settings and the module fuel meter. */
export interface ApiContext {
  readonly coordinator: Coordinator;
  readonly config: CoordinatorConfig;
  /** Instruments the WASM modules of submitted tasks with fuel (module-meter.ts). */
  readonly meter: ModuleMeter;
  /** Per-tenant submission rate and queued-task quota (tenant-limits.ts). */
  readonly limits: TenantLimits;
  /** The calling key's scopes when it has a list (absent: every scope of its tenant). */
  readonly scopes?: Scopes;
  /** The calling key's signing secret: its tasks must be signed (task-signatures.ts). */
  readonly signingSecret?: string;
  /** Webhook deliveries and the tenants' signing secrets (webhooks.ts). */
  readonly webhooks?: Webhooks;
  /** The calling key is an operator's (FLOCK_ADMIN_KEYS, the dev key): the audit log of every tenant. */
  readonly admin?: boolean;
}

/** One authenticated REST route: `parts` are the decoded path segments after `/v1/`. */
export type Handler = (
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  tenant: string,
  parts: string[],
) => Promise<void>;

export function json(res: ServerResponse, status: number, body: unknown): void {
  // Encoded once: measuring the text and then writing it (as a string) encoded it twice, and a
  // campaign's answer is a view per task.
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': bytes.length,
  });
  res.end(bytes);
}

export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new CoordinatorError('INVALID_ARGUMENT', 'malformed percent-encoding in the path', 'path');
  }
}

export function bearer(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (!auth?.startsWith('Bearer ')) return undefined;
  return auth.slice('Bearer '.length).trim();
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function isWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

/** `?limit=` of a list endpoint: 1..MAX_LIST_LIMIT, default 100. */
export function listLimit(q: URLSearchParams): number {
  const limitText = q.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new CoordinatorError('INVALID_ARGUMENT', `limit must be 1..${MAX_LIST_LIMIT}`, 'limit');
  }
  return limit;
}

/**
 * Reads a request body up to `limit` bytes; over it: 413 BODY_TOO_LARGE (its message names
 * `setting`, the variable that sets the limit, when given), and the error answer closes the
 * connection (the rest of the body is never read).
 */
export function readBody(req: IncomingMessage, limit: number, setting?: string): Promise<Buffer> {
  const message = `body over ${limit} bytes${setting === undefined ? '' : ` (${setting})`}`;
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    return Promise.reject(new CoordinatorError('BODY_TOO_LARGE', message));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new CoordinatorError('BODY_TOO_LARGE', message));
        req.removeAllListeners('data');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
