import type { JsonObject, JsonValue } from './generated/model.ts';
import { ProtocolError } from './protocol-error.ts';

/** Keys that could reach an object's prototype if a consumer merged params into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonLimits {
  maxBytes: number;
  maxDepth: number;
}

/**
 * Checks a parsed JSON value: depth at most `maxDepth`, and no `__proto__`/`constructor`/
 * `prototype` key at any depth. Iterative, so hostile nesting cannot overflow the stack.
 * JSON.parse keeps `"__proto__"` as an own key, so looking at own keys finds it exactly, unlike a
 * substring search, which would also refuse the string value "__proto__".
 */
export function checkJsonValue(value: unknown, limits: Pick<JsonLimits, 'maxDepth'>, field: string): void {
  // Two parallel stacks and for-in over own keys rather than [node, depth] pairs and
  // Object.keys: a campaign's body is checked whole, and those were an array per value.
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (node === null || typeof node !== 'object') {
      if (typeof node === 'number' && !Number.isFinite(node)) {
        throw new ProtocolError('WRONG_TYPE', 'JSON numbers must be finite', field);
      }
      if (
        typeof node !== 'string' &&
        typeof node !== 'number' &&
        typeof node !== 'boolean' &&
        node !== null
      ) {
        throw new ProtocolError('WRONG_TYPE', `${typeof node} is not a JSON value`, field);
      }
      continue;
    }
    if (depth > limits.maxDepth) {
      throw new ProtocolError('PARAMS_TOO_DEEP', `JSON nests deeper than ${limits.maxDepth} levels`, field);
    }
    if (Array.isArray(node)) {
      for (const item of node) {
        nodes.push(item);
        depths.push(depth + 1);
      }
      continue;
    }
    const proto = Object.getPrototypeOf(node);
    if (proto !== Object.prototype && proto !== null) {
      throw new ProtocolError('WRONG_TYPE', 'only plain JSON objects are allowed', field);
    }
    for (const key in node) {
      if (!Object.hasOwn(node, key)) continue;
      if (FORBIDDEN_KEYS.has(key)) {
        throw new ProtocolError('FORBIDDEN_KEY', `key "${key}" is not allowed`, `${field}.${key}`);
      }
      nodes.push((node as Record<string, unknown>)[key]);
      depths.push(depth + 1);
    }
  }
}

const encoder = new TextEncoder();

/** UTF-8 length of a string without allocating when it is plainly small or plainly too large. */
export function utf8Length(text: string): number {
  if (text.length * 3 <= 1024) return encoder.encode(text).length;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Whether `text` takes more than `maxBytes` bytes as UTF-8, counted only when its length leaves it
 * in doubt (UTF-8 takes 1 to 3 bytes a UTF-16 unit): a campaign's body or a task's params are
 * mostly far under their limits.
 */
export function exceedsUtf8Bytes(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  return text.length * 3 > maxBytes && utf8Length(text) > maxBytes;
}

/** Parses JSON text with a size limit, then checks depth and keys. Errors are ProtocolErrors. */
export function parseJsonText(text: string, limits: JsonLimits, field = 'params'): JsonValue {
  if (exceedsUtf8Bytes(text, limits.maxBytes)) {
    throw new ProtocolError('PARAMS_TOO_LARGE', `JSON is larger than ${limits.maxBytes} bytes`, field);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError('INVALID_JSON', `invalid JSON: ${(error as Error).message}`, field);
  }
  checkJsonValue(value, limits, field);
  return value as JsonValue;
}

/** Like parseJsonText, and the value must be an object (params are always an object). */
export function parseJsonObject(text: string, limits: JsonLimits, field = 'params'): JsonObject {
  const value = parseJsonText(text, limits, field);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('WRONG_TYPE', 'must be a JSON object', field);
  }
  return value;
}

/** Serialises params, enforcing the same limits as parsing. */
export function stringifyJsonObject(value: JsonObject, limits: JsonLimits, field = 'params'): string {
  checkJsonValue(value, limits, field);
  const text = JSON.stringify(value);
  if (exceedsUtf8Bytes(text, limits.maxBytes)) {
    throw new ProtocolError('PARAMS_TOO_LARGE', `JSON is larger than ${limits.maxBytes} bytes`, field);
  }
  return text;
}
