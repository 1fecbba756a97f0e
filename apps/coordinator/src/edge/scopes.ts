import { CoordinatorError } from '../errors.ts';

/** What a REST route needs of a key. */
export type RouteScope = 'submit' | 'read' | 'cancel' | 'admin';

const ROUTE_SCOPES: readonly RouteScope[] = ['submit', 'read', 'cancel', 'admin'];
/** `can_submit:<pattern>`: submit only tasks whose op matches (`*` any run of characters). */
const CAN_SUBMIT = 'can_submit:';
/** `can_subscribe:<pattern>`: `/v1/events?channel=` of matching return channels only. */
const CAN_SUBSCRIBE = 'can_subscribe:';
const PATTERN = /^[A-Za-z0-9_.:@/*-]{1,128}$/;

/**
 * Whether `text` is a scope: `submit`, `read`, `cancel`, `admin`, or `can_submit:<op pattern>`
 * (e.g. `can_submit:image.*`). Throws INVALID_ARGUMENT naming `field` otherwise.
 */
export function checkScope(text: string, field: string): string {
  if ((ROUTE_SCOPES as readonly string[]).includes(text)) return text;
  for (const prefix of [CAN_SUBMIT, CAN_SUBSCRIBE])
    if (text.startsWith(prefix) && PATTERN.test(text.slice(prefix.length))) return text;
  throw new CoordinatorError(
    'INVALID_ARGUMENT',
    `"${text}" is not a scope (submit, read, cancel, admin, can_submit:<op pattern>, can_subscribe:<channel pattern>)`,
    field,
  );
}

function globMatches(pattern: string, op: string): boolean {
  const source = pattern.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${source}$`).test(op);
}

/**
 * What a key may do in its tenant. Without a list (`Scopes.ALL`: keys configured without scopes,
 * the dev key) it may do everything its tenant may. With a list, only what is listed: `admin`
 * implies the others; `can_submit:<pattern>` gives the submit routes with tasks limited to
 * matching ops.
 */
export class Scopes {
  /** Every scope: what a key without a scope list has. */
  static readonly ALL = new Scopes(undefined);

  private constructor(readonly list: readonly string[] | undefined) {}

  /** A key's scopes from a (checked) list. */
  static of(list: readonly string[]): Scopes {
    return new Scopes([...list]);
  }

  private get admin(): boolean {
    return this.list === undefined || this.list.includes('admin');
  }

  /** Whether the key may use routes that need `scope`. */
  has(scope: RouteScope): boolean {
    if (this.admin || this.list!.includes(scope)) return true;
    return scope === 'submit' && this.list!.some((s) => s.startsWith(CAN_SUBMIT));
  }

  /** Whether the key may open `/v1/events` filtered to `channel` (any stream with `read`). */
  canSubscribe(channel: string | undefined): boolean {
    if (this.has('read')) return true;
    if (channel === undefined) return false;
    return this.list!.some(
      (s) => s.startsWith(CAN_SUBSCRIBE) && globMatches(s.slice(CAN_SUBSCRIBE.length), channel),
    );
  }

  /** Whether the key may submit a task of `op` (a built-in op, a library method, a module's op). */
  canSubmit(op: string): boolean {
    if (this.admin || this.list!.includes('submit')) return true;
    return this.list!.some((s) => s.startsWith(CAN_SUBMIT) && globMatches(s.slice(CAN_SUBMIT.length), op));
  }
}

/** 403 FORBIDDEN naming the scope a key lacks (and the input field that needed it, if any). */
export function forbidden(scope: string, field?: string): CoordinatorError {
  return new CoordinatorError('FORBIDDEN', `this key lacks the scope ${scope}`, field);
}

/** The scope a REST route needs: reading is `read`, submitting and uploading `submit`, cancelling `cancel`, keys `admin`. */
export function requiredScope(method: string, resource: string): RouteScope {
  if (resource === 'keys') return 'admin';
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (method === 'DELETE') return 'cancel';
  return 'submit';
}
