import { type CreatedKey, type FlockClient, isFlockError, type KeyView } from '@flock/client';
import { copyButton } from './copy-button.ts';
import { formatTime, h, replace } from './dom.ts';
import { describeError } from './error-text.ts';
import { field } from './form-parts.ts';

/** The plain scopes a key may get; `can_submit:` and `can_subscribe:` patterns are typed. */
const SCOPES = ['read', 'submit', 'cancel', 'admin'] as const;

/**
 * The Keys page (keys with `admin` only): the tenant's keys (`GET /v1/keys`), a form that makes
 * one (`POST /v1/keys`: its secret, and a signing key's signing secret, shown once with a copy
 * button), and Revoke after a confirmation (`DELETE /v1/keys/:id`).
 */
export function renderKeys(app: HTMLElement, client: FlockClient): () => void {
  let stopped = false;
  const rows = h('tbody', { id: 'key-rows' });
  const error = h('p', { class: 'error', role: 'alert', id: 'keys-error', hidden: true });
  const created = h('div', { id: 'created-key', class: 'secret-once', hidden: true });
  // The table and the New key form: hidden for a key without `admin`, which may use neither.
  const manage = h('div', { id: 'keys-manage' });

  const fail = (caught: unknown): void => {
    error.textContent = describeError(caught, 'key');
    error.hidden = false;
  };
  const load = async (): Promise<void> => {
    try {
      const keys = await client.keys();
      if (stopped) return;
      replace(rows, ...keys.map((key) => keyRow(key, revoke)));
      if (keys.length === 0) replace(rows, h('tr', {}, h('td', { colspan: 8 }, 'No stored keys yet.')));
    } catch (caught) {
      if (stopped) return;
      fail(caught);
      if (isFlockError(caught) && caught.code === 'FORBIDDEN') manage.hidden = true;
    }
  };
  const revoke = async (key: KeyView): Promise<void> => {
    const label = key.name === undefined ? key.key_id : `${key.key_id} (${key.name})`;
    if (!window.confirm(`Revoke ${label}? Requests with it are refused from now on.`)) return;
    error.hidden = true;
    try {
      await client.revokeKey(key.key_id);
      await load();
    } catch (caught) {
      fail(caught);
    }
  };
  const form = keyForm(client, {
    clearError: () => {
      error.hidden = true;
    },
    fail,
    created: async (key) => {
      showCreated(created, key);
      await load();
    },
  });

  replace(
    app,
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'section-head' }, h('h1', {}, 'API keys')),
      error,
      created,
      manage,
    ),
  );
  replace(manage, keysTable(rows), h('h2', {}, 'New key'), form);
  void load();
  return () => {
    stopped = true;
  };
}

interface KeyFormHooks {
  clearError(): void;
  fail(caught: unknown): void;
  /** A key was made: show its secrets once and list it. */
  created(key: CreatedKey): Promise<void>;
}

/** The New key form: scope checkboxes, typed patterns, a name and the signing box. */
function keyForm(client: FlockClient, hooks: KeyFormHooks): HTMLFormElement {
  const checks = SCOPES.map((scope) =>
    h('input', { type: 'checkbox', name: 'scope', value: scope, checked: scope === 'read' }),
  );
  const patterns = h('input', {
    id: 'key-patterns',
    class: 'mono',
    placeholder: 'can_submit:image.* can_subscribe:results-*',
  });
  const name = h('input', { id: 'key-name', placeholder: 'ci-bot' });
  const signing = h('input', { type: 'checkbox', id: 'key-signing' });
  const createButton = h('button', { type: 'submit', class: 'primary' }, 'Create key');
  const form = h(
    'form',
    { class: 'key-form', id: 'key-form' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Scopes'),
      ...checks.map((check) => h('label', { class: 'check' }, check, ` ${check.value}`)),
    ),
    field(
      'Patterns',
      patterns,
      'can_submit:<op pattern> and can_subscribe:<channel pattern>, space-separated',
    ),
    field('Name', name),
    h('label', { class: 'check' }, signing, ' signing (its tasks must carry security.task_token)'),
    createButton,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hooks.clearError();
    const scopes = [
      ...checks.filter((c) => c.checked).map((c) => c.value),
      ...patterns.value.split(/[\s,]+/).filter((s) => s !== ''),
    ];
    createButton.disabled = true;
    try {
      const key = await client.createKey({
        scopes,
        ...(name.value.trim() === '' ? {} : { name: name.value.trim() }),
        ...(signing.checked ? { signing: true } : {}),
      });
      name.value = '';
      patterns.value = '';
      await hooks.created(key);
    } catch (caught) {
      hooks.fail(caught);
    } finally {
      createButton.disabled = false;
    }
  });
  return form;
}

function keysTable(rows: HTMLElement): HTMLElement {
  const heads = ['Key', 'Name', 'Tenant', 'Scopes', 'Signing', 'Created', 'Revoked', ''];
  return h(
    'table',
    { class: 'keys' },
    h('thead', {}, h('tr', {}, ...heads.map((c) => h('th', {}, c)))),
    rows,
  );
}

function keyRow(key: KeyView, revoke: (key: KeyView) => Promise<void>): HTMLElement {
  const revoked = key.revoked_at_ms !== undefined;
  return h(
    'tr',
    { 'data-key': key.key_id, class: revoked ? 'revoked' : undefined },
    h('td', { class: 'mono' }, key.key_id),
    h('td', {}, key.name ?? '–'),
    h('td', {}, key.tenant),
    h('td', { 'data-key-field': 'scopes' }, ...key.scopes.map((s) => h('span', { class: 'chip mono' }, s))),
    h('td', { 'data-key-field': 'signing' }, key.signing === true ? 'yes' : 'no'),
    h('td', {}, formatTime(key.created_at_ms)),
    h('td', { 'data-key-field': 'revoked' }, revoked ? formatTime(key.revoked_at_ms) : '–'),
    h(
      'td',
      {},
      revoked
        ? null
        : h('button', { type: 'button', class: 'danger', onclick: () => void revoke(key) }, 'Revoke'),
    ),
  );
}

/** The new key's secret (and signing secret), which the coordinator never shows again. */
function showCreated(box: HTMLElement, key: CreatedKey): void {
  replace(
    box,
    h(
      'p',
      {},
      h('b', {}, `Key ${key.key_id} created. `),
      'Copy its secret now: it is shown only this once and cannot be read back.',
    ),
    h('p', {}, 'Secret: ', h('code', { id: 'created-secret' }, key.key), ' ', copyButton(key.key)),
    key.signing_secret === undefined
      ? null
      : h(
          'p',
          {},
          'Signing secret: ',
          h('code', { id: 'created-signing-secret' }, key.signing_secret),
          ' ',
          copyButton(key.signing_secret),
        ),
  );
  box.hidden = false;
}
