// What a volunteer connection may do wrong, and how each is answered: an `error { code }` frame,
// then the connection closed with the code's WebSocket close code (Contract A, 10).
import { ProtocolError } from '@flock/protocol';

/**
 * WebSocket close codes of Contract A, 10, 1011 for the coordinator's own failure and 1013 (try
 * again later) while its store cannot be reached.
 */
export const CLOSE = { policy: 1008, protocol: 1002, tooBig: 1009, internal: 1011, tryAgain: 1013 } as const;
type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** Each violation code with the close code it ends the connection with. */
const VIOLATIONS = {
  ORIGIN_NOT_ALLOWED: CLOSE.policy,
  HELLO_TIMEOUT: CLOSE.policy,
  RATE_LIMITED: CLOSE.policy,
  LIST_TOO_LONG: CLOSE.policy,
  TOO_MANY_STREAMS: CLOSE.policy,
  HELLO_REQUIRED: CLOSE.protocol,
  UNSUPPORTED_VERSION: CLOSE.protocol,
  DUPLICATE_HELLO: CLOSE.protocol,
  UNEXPECTED_FRAME: CLOSE.protocol,
  TEXT_FRAME: CLOSE.protocol,
  STREAM_INVALID: CLOSE.protocol,
  STREAM_UNKNOWN: CLOSE.protocol,
  STREAM_OUT_OF_ORDER: CLOSE.protocol,
  FRAME_TOO_LARGE: CLOSE.tooBig,
  STREAM_TOO_LARGE: CLOSE.tooBig,
  INTERNAL: CLOSE.internal,
  // Not the volunteer's doing: the tab reconnects, and its hello carries what was not acked.
  STORE_UNAVAILABLE: CLOSE.tryAgain,
} as const satisfies Record<string, CloseCode>;

export type ViolationCode = keyof typeof VIOLATIONS;

/** A violation: its code (a ViolationCode, or the protocol's code for a frame it refused). */
export class Violation extends Error {
  private constructor(
    readonly code: string,
    message: string,
    readonly closeCode: CloseCode,
  ) {
    super(message);
    this.name = 'Violation';
  }

  static of(code: ViolationCode, message: string): Violation {
    return new Violation(code, message, VIOLATIONS[code]);
  }

  /**
   * A frame the protocol refused: too large (1009), else malformed (1002); `policy` for refusals
   * of content the frame may carry but this worker may not (capability bounds: 1008).
   */
  static protocol(err: ProtocolError, message = err.message, policy = false): Violation {
    const close = err.code === 'FRAME_TOO_LARGE' ? CLOSE.tooBig : policy ? CLOSE.policy : CLOSE.protocol;
    return new Violation(err.code, message, close);
  }

  /** What a frame handler threw, as the violation that answers it (undefined: not the frame's fault). */
  static from(err: unknown): Violation | undefined {
    if (err instanceof Violation) return err;
    if (err instanceof ProtocolError) return Violation.protocol(err);
    return undefined;
  }
}
