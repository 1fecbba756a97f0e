// `flock keys [list | create <scope...> | revoke <key_id>]`: the tenant's API keys (an admin key's).
import type { KeyView } from '../api-types.ts';
import type { Command } from './commands.ts';
import { EXIT, UsageError } from './exit-codes.ts';
import { table } from './format.ts';

const KEYS_HEAD = ['KEY', 'TENANT', 'SCOPES', 'NAME', 'CREATED', 'REVOKED', 'SIGNING'];
const USAGE =
  'usage: flock keys [list | create <scope...> [--name N] [--tenant T] [--signing] | revoke <key_id>]';

/** `flock keys` (or `keys list`): list; `create <scope...>`: make one, print its secret once; `revoke <key_id>`. */
export const keys: Command = async ({ client, io, values, args }) => {
  const [sub, ...rest] = args;
  const json = values.json === true;
  if (sub === 'create') {
    if (rest.length === 0)
      throw new UsageError(
        `${USAGE}\n  scopes: read submit cancel admin can_submit:<op pattern> can_subscribe:<channel pattern>`,
      );
    const made = await client.createKey({
      scopes: rest,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(values.tenant === undefined ? {} : { tenant: values.tenant }),
      ...(values.signing === true ? { signing: true } : {}),
    });
    if (json) io.stdout(`${JSON.stringify(made, null, 2)}\n`);
    else {
      io.stdout(
        `${made.key_id}  ${made.key}${made.signing_secret === undefined ? '' : `  ${made.signing_secret}`}\n`,
      );
      io.stderr(
        made.signing_secret === undefined
          ? 'flock: the secret above is shown this once; keep it (FLOCK_API_KEY)\n'
          : 'flock: the key and its signing secret above are shown this once; keep them (FLOCK_API_KEY, FLOCK_SIGNING_SECRET)\n',
      );
    }
    return EXIT.ok;
  }
  if (sub === 'revoke') {
    const [keyId, ...extra] = rest;
    if (keyId === undefined || keyId === '' || extra.length > 0) throw new UsageError(USAGE);
    const revoked = await client.revokeKey(keyId);
    io.stdout(
      json
        ? `${JSON.stringify(revoked, null, 2)}\n`
        : `${revoked.key_id} revoked at ${new Date(revoked.revoked_at_ms ?? 0).toISOString()}\n`,
    );
    return EXIT.ok;
  }
  // `keys list` reads as the other commands do; it is the same as a bare `keys`.
  if (sub !== undefined && (sub !== 'list' || rest.length > 0)) throw new UsageError(USAGE);
  const list = await client.keys(values.tenant === undefined ? {} : { tenant: values.tenant });
  if (json) io.stdout(`${JSON.stringify({ keys: list }, null, 2)}\n`);
  else io.stdout(list.length === 0 ? 'no keys\n' : table(KEYS_HEAD, list.map(keyRow)));
  return EXIT.ok;
};

function keyRow(k: KeyView): string[] {
  return [
    k.key_id,
    k.tenant,
    k.scopes.join(' '),
    k.name ?? '-',
    new Date(k.created_at_ms).toISOString(),
    k.revoked_at_ms === undefined ? '-' : new Date(k.revoked_at_ms).toISOString(),
    // A signing key's tasks must carry its HMAC (FLOCK_SIGNING_SECRET): say which ones are.
    k.signing === true ? 'yes' : '-',
  ];
}
