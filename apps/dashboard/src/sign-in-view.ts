import { FlockClient } from '@flock/client';
import { h, replace } from './dom.ts';
import { describeError } from './error-text.ts';

export const KEY_STORAGE = 'flock.apiKey';

/** The sign-in form: checks the key against the coordinator before keeping it (sessionStorage). */
export function renderSignIn(
  app: HTMLElement,
  onSignedIn: (client: FlockClient) => void,
  notice?: string,
): void {
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    placeholder: 'API key',
    required: true,
  });
  const error = h(
    'p',
    { id: 'sign-in-error', class: 'error', role: 'alert', hidden: notice === undefined },
    notice,
  );
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card sign-in' },
    h('h1', {}, 'Sign in'),
    h(
      'p',
      { class: 'muted' },
      `Coordinator ${location.origin}. The key stays in this tab only (sessionStorage).`,
    ),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    button,
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      const client = new FlockClient({ url: location.origin, apiKey: input.value.trim(), throttleWaitMs: 0 });
      await client.checkKey();
      sessionStorage.setItem(KEY_STORAGE, input.value.trim());
      onSignedIn(client);
    } catch (caught) {
      error.textContent = describeError(caught);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  replace(app, form);
  input.focus();
}
