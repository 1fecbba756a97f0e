import { ProtocolError } from './protocol-error.ts';

/**
 * The path (JSON-view names: `inputs[0].name`, `params.a[2]`) of the first string in `value` that
 * is not well-formed Unicode (a lone UTF-16 surrogate, which has no UTF-8 form), keys included;
 * undefined when every string is well-formed. Byte arrays are not text and are skipped.
 */
export function illFormedTextPath(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path;
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = illFormedTextPath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (!key.isWellFormed()) return at;
    const found = illFormedTextPath((value as Record<string, unknown>)[key], at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Whether any string in `value`, keys included, is not well-formed: `illFormedTextPath` without
 * the paths, which it builds for every member it passes (every envelope of a campaign is checked,
 * and nearly all are well-formed).
 */
function hasIllFormedText(value: unknown): boolean {
  if (typeof value === 'string') return !value.isWellFormed();
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasIllFormedText(value[i])) return true;
    return false;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!key.isWellFormed() || hasIllFormedText((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * Refuses a message with text that could not be encoded: every string a client sends must be
 * well-formed Unicode, so that what is accepted can also be delivered (Cap'n Proto text is UTF-8).
 * Throws `INVALID_TEXT` naming the field.
 */
export function checkWellFormedText(value: unknown, field?: string): void {
  if (!hasIllFormedText(value)) return;
  const found = illFormedTextPath(value);
  if (found === undefined) return;
  const at = field ? (found === '' ? field : `${field}.${found}`) : found;
  throw new ProtocolError(
    'INVALID_TEXT',
    'text must be well-formed Unicode (a lone UTF-16 surrogate has no UTF-8 form)',
    at === '' ? undefined : at,
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 bytes, refusing invalid sequences (`INVALID_TEXT`) instead of writing U+FFFD. */
export function decodeUtf8Strict(bytes: Uint8Array, field?: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ProtocolError('INVALID_TEXT', 'the body is not valid UTF-8', field);
  }
}
