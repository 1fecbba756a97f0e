// The requester dashboard: sign in, then a hash-routed single page (tasks, task, submit,
// campaign, workers, charts with service levels and circuit breakers, keys for admins) over the SDK. Served by
// the coordinator at /dashboard/.
import { FlockClient, isFlockError } from '@flock/client';
import 'uplot/dist/uPlot.min.css';
import { renderCharts, StatsHistory } from './charts-view.ts';
import { describeError } from './error-text.ts';
import { renderKeys } from './keys-view.ts';
import { LiveTasks } from './live-tasks.ts';
import { renderServiceLevels } from './service-levels-view.ts';
import { KEY_STORAGE, renderSignIn } from './sign-in-view.ts';
import { renderSubmit } from './submit-view.ts';
import { renderTaskDetail } from './task-detail-view.ts';
import { renderTaskList } from './task-list-view.ts';
import { renderWorkers } from './workers-view.ts';
import { renderWorkflowDetail, renderWorkflows } from './workflows-view.ts';

const app = document.querySelector<HTMLElement>('#app')!;
const nav = document.querySelector<HTMLElement>('#nav')!;
const banner = document.querySelector<HTMLElement>('#banner')!;
const connection = document.querySelector<HTMLElement>('#connection')!;
const signOutButton = document.querySelector<HTMLButtonElement>('#sign-out')!;
const keysLink = document.querySelector<HTMLAnchorElement>('#nav-keys')!;

interface Signed {
  client: FlockClient;
  live: LiveTasks;
  history: StatsHistory;
  stopPolling: () => void;
}

let signed: Signed | undefined;
let cleanup: (() => void) | undefined;

const CONNECTION_TEXT = { connecting: 'connecting…', live: 'live', lost: 'connection lost' } as const;

function signIn(client: FlockClient): void {
  const live = new LiveTasks(client);
  const history = new StatsHistory();
  signed = { client, live, history, stopPolling: history.poll(client) };
  nav.hidden = false;
  signOutButton.hidden = false;
  live.onConnection((state) => {
    connection.dataset['state'] = state;
    connection.textContent = CONNECTION_TEXT[state];
    if (state === 'lost') {
      banner.textContent = 'Lost connection to the coordinator. Reconnecting… (live updates paused)';
      banner.hidden = false;
    } else if (state === 'live') {
      banner.hidden = true;
    }
  });
  void live.start((error) => signOut(describeError(error)));
  showKeysLinkIfAdmin(client);
  route();
}

/**
 * The Keys page is for keys with `admin`: `GET /v1/keys` answers 403 FORBIDDEN to any other, so
 * the link shows only once that read succeeds.
 */
function showKeysLinkIfAdmin(client: FlockClient): void {
  keysLink.hidden = true;
  client
    .keys()
    .then(() => {
      if (signed?.client === client) keysLink.hidden = false;
    })
    .catch((error: unknown) => {
      if (!isFlockError(error) || error.code !== 'FORBIDDEN') console.warn('GET /v1/keys:', error);
    });
}

function signOut(notice?: string): void {
  sessionStorage.removeItem(KEY_STORAGE);
  signed?.live.stop();
  signed?.stopPolling();
  signed = undefined;
  cleanup?.();
  cleanup = undefined;
  nav.hidden = true;
  keysLink.hidden = true;
  signOutButton.hidden = true;
  banner.hidden = true;
  connection.textContent = '';
  connection.dataset['state'] = 'idle';
  renderSignIn(app, signIn, notice);
}

function route(): void {
  cleanup?.();
  cleanup = undefined;
  if (signed === undefined) return;
  const { client, live, history } = signed;
  const [, page = 'tasks', arg] = location.hash.split('/');
  const id = arg === undefined ? undefined : decodeURIComponent(arg);
  for (const link of nav.querySelectorAll<HTMLAnchorElement>('a')) {
    link.classList.toggle(
      'active',
      link.dataset['route'] ===
        (page === 'task' || page === 'campaign' ? 'tasks' : page === 'workflow' ? 'workflows' : page),
    );
  }
  switch (page) {
    case 'task':
      cleanup = renderTaskDetail(app, live, client, id ?? '');
      break;
    case 'campaign':
      cleanup = renderTaskList(app, live, client, id);
      break;
    case 'submit':
      renderSubmit(app, live, client);
      break;
    case 'workers':
      cleanup = renderWorkers(app, client);
      break;
    case 'workflows':
      cleanup = renderWorkflows(app, client);
      break;
    case 'workflow':
      cleanup = renderWorkflowDetail(app, client, id ?? '');
      break;
    case 'keys':
      cleanup = renderKeys(app, client);
      break;
    case 'charts': {
      const stopCharts = renderCharts(app, history);
      const stopLevels = renderServiceLevels(app, client, history, live);
      cleanup = () => {
        stopCharts();
        stopLevels();
      };
      break;
    }
    default:
      cleanup = renderTaskList(app, live, client, undefined);
  }
}

window.addEventListener('hashchange', route);
signOutButton.addEventListener('click', () => signOut());

const stored = sessionStorage.getItem(KEY_STORAGE);
if (stored === null) {
  renderSignIn(app, signIn);
} else {
  // Refusals (429, 503 QUEUE_FULL) are shown at once, not waited out behind a still page.
  const client = new FlockClient({ url: location.origin, apiKey: stored, throttleWaitMs: 0 });
  client
    .checkKey()
    .then(() => signIn(client))
    .catch((error: unknown) => {
      if (describeError(error).includes('UNAUTHENTICATED')) signOut(describeError(error));
      else renderSignIn(app, signIn, describeError(error));
    });
}
