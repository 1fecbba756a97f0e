// Which store errors mean "the database cannot be reached now" rather than a fault of the request
// or a bug: the coordinator answers those 503 STORE_UNAVAILABLE (edge/http-api.ts) and names
// FLOCK_STORE when they stop a start (cluster/cluster.ts).

/** Socket errors of a connection to the database server (not file-system errors, which are bugs or a full disk). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Whether `err` says the PostgreSQL server cannot be used now: a socket error reaching it
 * (refused, reset, unresolved host, timeout), a connection the server ended ("Connection
 * terminated"), or a server error of class 08 (connection exception), 28 (authorization), 3D
 * (no such database), 53 (insufficient resources: too many connections) or 57P (shutting down,
 * starting up, terminated by an administrator).
 */
export function storeUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code } = err as NodeJS.ErrnoException;
  if (typeof code !== 'string') return /^Connection terminated/.test(err.message);
  return SOCKET_CODES.has(code) || /^(08|28|3D|53|57P)/.test(code);
}
