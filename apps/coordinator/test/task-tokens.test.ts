// Task tokens (engine/task-tokens.ts): HMAC-SHA256 computed with one-shot SHA-256s over keys
// padded once must be exactly createHmac's, for any message and key length.
import { createHmac, randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import { TaskTokens } from '../src/engine/task-tokens.ts';

const hmac = (key: Buffer, message: string): string =>
  `hmac:${createHmac('sha256', key).update(message).digest('base64url')}`;

test('a known token: HMAC-SHA256 of "lease\\ntask\\nworker" under the key, base64url (computed with Python\'s hmac)', () => {
  const tokens = new TaskTokens(Buffer.from('Jefe'));
  expect(tokens.sign('what do ya want', 'for', 'nothing?')).toBe(
    'hmac:Kk41kU_ee_c6OicCAy8-uxkfSyJpkpGrRTbQ6lc7Aws',
  );
});

test('equal to createHmac for keys of 0, 32, 64 and 100 bytes and messages short, non-ASCII and long', () => {
  const messages: Array<[string, string, string]> = [
    ['l-abc-00000001', 't1', 'w-1'],
    ['l-abc-00000002', 'tâche-é-\u{1F600}', 'w-2'],
    ['l-abc-00000003', 'x'.repeat(1000), 'w-3'],
    ['l-abc-00000004', 'y'.repeat(5000), 'w-4'],
    ['', '', ''],
    // Lone surrogates either side of a separator: each part is written on its own.
    ['l-\ud800', '\udc00t\ud83d', '\ude00w'],
  ];
  for (const size of [0, 32, 64, 100]) {
    const key = randomBytes(size);
    const tokens = new TaskTokens(key);
    for (const [lease, task, worker] of messages) {
      const want = hmac(key, `${lease}\n${task}\n${worker}`);
      expect(tokens.sign(lease, task, worker)).toBe(want);
      // Again after a longer message filled the scratch buffer: nothing of it is left over.
      expect(tokens.sign(lease, task, worker)).toBe(want);
      expect(tokens.verify(want, lease, task, worker)).toBe(true);
      expect(tokens.verify(want, lease, task, `${worker}x`)).toBe(false);
    }
  }
});
