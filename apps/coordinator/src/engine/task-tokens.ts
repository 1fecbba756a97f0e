import crypto, { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** SHA-256's block: an HMAC key of at most this many bytes is used as it is (RFC 2104). */
const BLOCK = 64;
/** Messages (lease, task and worker ids) up to this many UTF-16 units take the one-shot path. */
const MAX_MESSAGE_UNITS = 1024;

/**
 * Per-assignment task tokens: `hmac:<base64url HMAC-SHA256(secret, lease|task|worker)>`. The
 * worker echoes the token with its result; a result with another token is refused. The secret is
 * kept in the store so tokens stay valid across a coordinator restart.
 */
export class TaskTokens {
  private readonly secret: Buffer;
  /** `key ⊕ ipad`, then room for the message: HMAC's inner hash input. */
  private readonly inner: Buffer | undefined;
  /** `key ⊕ opad`, then the inner digest: HMAC's outer hash input. */
  private readonly outer: Buffer | undefined;

  constructor(secret: Buffer) {
    this.secret = secret;
    // One per assignment: HMAC-SHA256 computed as its two SHA-256s with Node's one-shot
    // crypto.hash (20.12+) over padded keys prepared once — the same bytes as createHmac
    // (test/task-tokens.test.ts), without an Hmac object and its key setup per token.
    if (typeof crypto.hash === 'function' && secret.length <= BLOCK) {
      this.inner = Buffer.alloc(BLOCK + 3 * MAX_MESSAGE_UNITS);
      this.outer = Buffer.alloc(BLOCK + 32);
      for (let i = 0; i < BLOCK; i++) {
        const k = secret[i] ?? 0;
        this.inner[i] = k ^ 0x36;
        this.outer[i] = k ^ 0x5c;
      }
    }
  }

  static newSecret(): Buffer {
    return randomBytes(32);
  }

  sign(leaseId: string, taskId: string, workerId: string): string {
    const { inner, outer } = this;
    if (inner && outer && leaseId.length + taskId.length + workerId.length + 2 <= MAX_MESSAGE_UNITS) {
      // The message `lease\ntask\nworker` written in its parts (the same UTF-8: '\n' ends any
      // surrogate pair), not joined into a string first.
      let n = BLOCK + inner.write(leaseId, BLOCK, 'utf8');
      inner[n++] = 0x0a;
      n += inner.write(taskId, n, 'utf8');
      inner[n++] = 0x0a;
      n += inner.write(workerId, n, 'utf8');
      outer.write(crypto.hash('sha256', inner.subarray(0, n), 'binary'), BLOCK, 'binary');
      return `hmac:${crypto.hash('sha256', outer, 'base64url')}`;
    }
    const message = `${leaseId}\n${taskId}\n${workerId}`;
    return `hmac:${createHmac('sha256', this.secret).update(message).digest('base64url')}`;
  }

  verify(token: string | undefined, leaseId: string, taskId: string, workerId: string): boolean {
    return TaskTokens.same(token, this.sign(leaseId, taskId, workerId));
  }

  /** Constant-time comparison of a presented token with the one handed out. */
  static same(given: string | undefined, expected: string): boolean {
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
