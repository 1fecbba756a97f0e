// The volunteer page: wires the DOM to a Volunteer. Nothing runs until the person presses Start;
// that consent is remembered (IndexedDB) so a reload resumes where it was.
import { activityText } from './activity.ts';
import { cpuSlotsFrom, maxCpuSlots } from './capability-probe.ts';
import { formatDuration } from './format-duration.ts';
import { refusalText } from './refusal.ts';
import { standingText } from './standing.ts';
import { TabStore } from './tab-store.ts';
import { Volunteer, type VolunteerView } from './volunteer.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function coordinatorUrl(): string {
  const override = new URLSearchParams(location.search).get('coordinator');
  if (override) return override;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/worker`;
}

/**
 * One donating tab per browser profile. The tabs share one volunteer identity (IndexedDB), so two
 * tabs connected at once would resume the same session in turn and knock each other off. The tab
 * holding this Web Lock donates; the others say so and can take over by stealing it.
 */
const TAB_LOCK = 'flock-volunteer-tab';

/**
 * Takes the tab lock (`steal`: from whichever tab holds it); resolves with whether this tab now
 * holds it. `onLost` runs when another tab steals it. Without Web Locks (an insecure origin) every
 * tab proceeds, as before.
 */
function takeTabLock(steal: boolean, onLost: () => void): Promise<boolean> {
  const locks = navigator.locks as LockManager | undefined;
  if (!locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    locks
      .request(TAB_LOCK, steal ? { steal: true } : { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        // Held until the tab closes or another tab steals it (then this request rejects).
        return lock ? new Promise<void>(() => {}) : undefined;
      })
      .catch(onLost);
  });
}

function render(view: VolunteerView): void {
  const { settings, probe } = view;
  // The button pressed is hidden below: keep the keyboard on the controls (Start → Pause, Stop → Start).
  const focused = document.activeElement;
  $('start').hidden = settings.started;
  $('pause').hidden = !settings.started;
  $('stop').hidden = !settings.started;
  $('pause').textContent = settings.paused ? 'Resume' : 'Pause';
  if (focused === $('start') && settings.started) $('pause').focus();
  else if (focused === $('stop') && !settings.started) $('start').focus();
  const slots = $<HTMLInputElement>('cpu-slots');
  slots.max = String(maxCpuSlots(probe.cpuCores));
  if (document.activeElement !== slots) slots.value = String(settings.cpuSlots);
  $('cpu-max').textContent = `(1 to ${maxCpuSlots(probe.cpuCores)})`;
  $<HTMLInputElement>('gpu').checked = settings.gpu;
  $<HTMLInputElement>('gpu').disabled = probe.gpu === null;
  $<HTMLInputElement>('only-charging').checked = settings.onlyWhileCharging;
  // Without the Battery API the tab cannot tell whether it charges: the setting would do nothing.
  $<HTMLInputElement>('only-charging').disabled = probe.battery === null;
  $('charging-note').hidden = probe.battery !== null;
  $<HTMLInputElement>('only-visible').checked = settings.onlyWhileVisible;

  $('connection').textContent =
    view.connection +
    (view.connectionDetail && view.connection !== 'open' ? ` (${view.connectionDetail})` : '');
  $('state').textContent = activityText(view.pauseReason, view.connection, view.running.length);
  $('worker-id').textContent = view.workerId || '—';
  $('tasks-done').textContent = String(view.totals.tasksDone);
  $('tasks-failed').textContent = String(view.totals.tasksFailed);
  $('compute-time').textContent = formatDuration(view.totals.computeMs);
  $('throughput').textContent = `${view.throughputPerMin} tasks/min`;
  const last = view.lastOutcome;
  $('last-task').textContent = last
    ? `${last.taskId}: ${last.ok ? `ok (${last.executor})` : `failed ${last.code}`}`
    : '—';
  renderStanding(view);

  const list = $('running');
  list.replaceChildren(
    ...(view.running.length === 0
      ? [Object.assign(document.createElement('li'), { className: 'empty', textContent: 'nothing' })]
      : view.running.map((job) => {
          const item = document.createElement('li');
          item.dataset['taskId'] = job.taskId;
          const label = `${job.taskId} · ${job.kind} ${job.op} `;
          // A prefetched job waits behind the one its executor runs: it uses no CPU slot yet.
          if (job.startedAtMs === 0) {
            item.dataset['state'] = 'queued';
            item.append(label, 'queued');
            return item;
          }
          item.dataset['state'] = 'running';
          const bar = Object.assign(document.createElement('progress'), { max: 100, value: job.pct });
          bar.setAttribute('aria-label', `progress of ${job.taskId}`);
          item.append(label, bar, ` ${Math.round(job.pct)}%`);
          return item;
        })),
  );
  $('capability').textContent = JSON.stringify(view.capability, null, 2);

  // Refused for good: the tab waits for the person (after the operator's fix) to press Try again.
  $('refused').hidden = view.refusal === undefined;
  $('refused-text').textContent =
    view.refusal === undefined ? '' : refusalText(view.refusal, location.origin);
  if (focused === $('try-again') && view.refusal === undefined)
    $(settings.started ? 'pause' : 'start').focus();

  $('other-tab').hidden = !view.standby;
  $('controls').toggleAttribute('inert', view.standby);
  // "Donate from this tab instead" hides itself once pressed: the keyboard goes on to the controls.
  if (focused === $('take-over') && !view.standby) $(settings.started ? 'pause' : 'start').focus();

  const isolation = $('isolation');
  isolation.hidden = probe.crossOriginIsolated;
  isolation.textContent =
    'This page is not cross-origin isolated (it was served without COOP/COEP headers), so ' +
    'SharedArrayBuffer and WASM threads are off. The tab still runs single-threaded jobs; the ' +
    'coordinator is told and will not send jobs that need shared memory.';
  const gpuNotice = $('gpu-notice');
  gpuNotice.hidden = probe.gpu !== null;
  gpuNotice.textContent =
    'WebGPU is not available in this browser, so this tab runs WebAssembly (CPU) jobs only.';
}

/** Credit and trust status (apps/coordinator/TRUST.md): the raw seconds ride in `data-seconds`. */
function renderStanding(view: VolunteerView): void {
  const text = standingText(view.standing);
  $('credit').textContent = text.credit;
  $('credit').dataset['seconds'] = String(view.standing?.credit ?? '');
  $('pending-credit').textContent = text.pendingCredit;
  $('pending-credit').dataset['seconds'] = String(view.standing?.pendingCredit ?? '');
  $('valid-results').textContent = text.validResults;
  $('invalid-results').textContent = text.invalidResults;
  const status = $('trust-status');
  status.textContent = text.status;
  status.dataset['status'] = view.standing?.status ?? '';
  status.classList.toggle('notice', view.standing?.status === 'quarantined');
}

/**
 * The page cannot start: says why in plain words (the error's name and message, never a stack),
 * and turns Start off instead of leaving a button that does nothing. `data-ready="failed"`.
 */
function cannotStart(why: string, error: unknown): void {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const notice = $('startup-error');
  notice.textContent = `${why} (${detail})`;
  notice.hidden = false;
  $<HTMLButtonElement>('start').disabled = true;
  document.body.dataset['ready'] = 'failed';
}

async function main(): Promise<void> {
  let store: TabStore;
  try {
    store = await TabStore.open();
  } catch (error) {
    // Chromium refuses IndexedDB where the site may not keep data ("block all cookies").
    cannotStart(
      'Flock cannot start in this tab: the browser does not let this site store data (IndexedDB), which ' +
        'Flock needs to remember your choice and keep finished work safe across reloads. Allow this site ' +
        'to keep cookies and site data, then reload the page.',
      error,
    );
    return;
  }
  let volunteer: Volunteer | undefined;
  const onLost = (): void => volunteer?.release();
  const holdsLock = await takeTabLock(false, onLost);
  volunteer = await Volunteer.create({
    url: coordinatorUrl(),
    origin: location.origin,
    store,
    createWorker: () => new Worker(new URL('./executor-worker.ts', import.meta.url), { type: 'module' }),
    standby: !holdsLock,
    corruptOutputs: new URLSearchParams(location.search).get('flock_test') === 'corrupt-outputs',
  });
  const active = volunteer;
  $('take-over').addEventListener('click', async () => {
    if (await takeTabLock(true, onLost)) active.reclaim();
  });
  $('try-again').addEventListener('click', () => active.retryConnection());
  $('start').addEventListener('click', () => void active.update({ started: true, paused: false }));
  $('pause').addEventListener('click', () => void active.update({ paused: !active.settings.paused }));
  $('stop').addEventListener('click', () => void active.update({ started: false }));
  $('cpu-slots').addEventListener('change', async (event) => {
    const input = event.target as HTMLInputElement;
    await active.update({
      cpuSlots: cpuSlotsFrom(input.value, active.settings.cpuSlots, active.probe.cpuCores),
    });
    // The box shows what was applied (render leaves a focused box alone while it is typed in).
    input.value = String(active.settings.cpuSlots);
  });
  $('gpu').addEventListener(
    'change',
    (e) => void active.update({ gpu: (e.target as HTMLInputElement).checked }),
  );
  $('only-charging').addEventListener(
    'change',
    (e) => void active.update({ onlyWhileCharging: (e.target as HTMLInputElement).checked }),
  );
  $('only-visible').addEventListener(
    'change',
    (e) => void active.update({ onlyWhileVisible: (e.target as HTMLInputElement).checked }),
  );
  let frame = 0;
  // Render what is true when the frame is drawn, not when the change was heard: a view taken
  // earlier would undo a checkbox the person clicked in between.
  active.subscribe(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => render(active.view()));
  });
  // For tests and the curious: the page's state, and hooks to drop the socket or the GPU device.
  Object.assign(globalThis, { flockVolunteer: active });
  document.body.dataset['ready'] = 'true';
}

main().catch((error: unknown) => cannotStart('Flock could not start in this tab.', error));
