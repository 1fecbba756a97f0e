import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Per-assignment task tokens: `hmac:<base64url HMAC-SHA256(secret, lease|task|worker)>`. The
 * worker echoes the token with its result; a result with another token is refused. The secret is
 * kept in the store so tokens stay valid across a coordinator restart.
 */
export class TaskTokens {
  private readonly secret: Buffer;

  constructor(secret: Buffer) {
    this.secret = secret;
  }

  static newSecret(): Buffer {
    return randomBytes(32);
  }

  sign(leaseId: string, taskId: string, workerId: string): string {
    const mac = createHmac('sha256', this.secret).update(`${leaseId}\n${taskId}\n${workerId}`).digest();
    return `hmac:${mac.toString('base64url')}`;
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
