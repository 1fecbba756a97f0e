// The coordinator's refusals that reconnecting cannot cure (Contract A, 10: an `error` frame, then
// the close with its code and the error's code as the reason). The tab stops reconnecting on one
// of these, says why in plain words, and reconnects only when the person asks it to.
import { assertNever } from '@flock/protocol';

/** A refusal for good: the close code and the coordinator's error code (the close reason). */
export type RefusalCode = 'ORIGIN_NOT_ALLOWED' | 'UNSUPPORTED_VERSION';

/** Each refusal's WebSocket close code (1008 policy, 1002 protocol). */
const REFUSALS: Record<RefusalCode, number> = {
  ORIGIN_NOT_ALLOWED: 1008,
  UNSUPPORTED_VERSION: 1002,
};

/**
 * The refusal a close is, or undefined for a close that a later connection may not meet again
 * (a drop, a rate limit, a coordinator restarting, a session resumed elsewhere).
 */
export function refusalOf(code: number, reason: string): RefusalCode | undefined {
  if (!Object.hasOwn(REFUSALS, reason)) return undefined;
  return REFUSALS[reason as RefusalCode] === code ? (reason as RefusalCode) : undefined;
}

/** What the page says about a refusal; `origin` is the page's own (`location.origin`). */
export function refusalText(refusal: RefusalCode, origin: string): string {
  switch (refusal) {
    case 'ORIGIN_NOT_ALLOWED':
      return (
        `This coordinator does not accept volunteers from this page's origin (${origin}); its operator ` +
        'must add it to FLOCK_ALLOWED_ORIGINS. The tab has stopped trying to connect.'
      );
    case 'UNSUPPORTED_VERSION':
      return (
        "This coordinator does not speak this page's protocol version: the page is older or newer than " +
        'the coordinator. Reload the page to get the version the coordinator serves. The tab has stopped ' +
        'trying to connect.'
      );
    default:
      return assertNever(refusal);
  }
}
