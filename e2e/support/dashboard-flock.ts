// A dashboard spec's Flock: a real coordinator (in-process, SQLite, the built pages), a scripted
// volunteer running built-in ops (builtin-ops-volunteer.ts), and system Chromium, shared by the
// spec's serial tests.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCoordinator, startCoordinator } from '@flock/coordinator';
import { SimulatedVolunteer } from '@flock/coordinator/sim';
import { type Browser, type Page, test } from '@playwright/test';
import { BuiltinOps, SIM_CAPABILITY } from './builtin-ops-volunteer.ts';
import { launchChromium } from './chromium.ts';
import { ARTIFACTS, DASHBOARD_KEY, dashboardPages, signIn } from './dashboard-pages.ts';

export interface DashboardFlock {
  coordinator: RunningCoordinator;
  volunteer: SimulatedVolunteer;
  /** A second volunteer, for a quorum of two (verified tasks run their copies on distinct workers). */
  second: SimulatedVolunteer | undefined;
  browser: Browser;
  /** The spec's temp dir; the coordinator's data is in `data/` under it. */
  workDir: string;
  pagesDir: string;
  /** The volunteers' jobs, held and released by the tests. */
  ops: BuiltinOps;
  /** Opens the dashboard and signs in (by default with the dashboard key at this coordinator). */
  signIn(page: Page, key?: string, url?: string): Promise<void>;
  /** Connects another scripted volunteer with the same runner and capability. */
  connectVolunteer(): Promise<SimulatedVolunteer>;
}

/**
 * Registers a serial spec's hooks: before its tests a coordinator on `<workDir>/data` that accepts
 * the dashboard key (tenant `acme`; spot checks only the probation check every new worker gets, so
 * counts are exact), one scripted volunteer and a Chromium; after them, every held job released
 * and everything closed and removed. Its fields are set once the spec's beforeAll has run.
 */
export function dashboardFlock(name: string): DashboardFlock {
  const flock = {
    ops: new BuiltinOps(),
    second: undefined,
    signIn: (page: Page, key = DASHBOARD_KEY, url = flock.coordinator.url) => signIn(page, key, url),
    connectVolunteer: () =>
      SimulatedVolunteer.connect({
        url: flock.coordinator.url,
        run: flock.ops.run,
        capability: SIM_CAPABILITY,
      }),
  } as DashboardFlock;
  // Generous limits: two cores are shared with every other build and test on this machine.
  test.describe.configure({ mode: 'serial', timeout: 150_000 });
  test.beforeAll(async () => {
    flock.workDir = await mkdtemp(join(tmpdir(), `flock-${name}-e2e-`));
    flock.pagesDir = await dashboardPages();
    flock.coordinator = await startCoordinator({
      port: 0,
      dataDir: join(flock.workDir, 'data'),
      pagesDir: flock.pagesDir,
      apiKeys: new Map([[DASHBOARD_KEY, 'acme']]),
      logLevel: 'silent',
      // Verified tasks: only the probation check every new worker gets, no random ones (exact counts).
      spotCheckRate: 0,
    });
    flock.volunteer = await flock.connectVolunteer();
    flock.browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
  });
  test.afterAll(async () => {
    flock.ops.releaseAll();
    await flock.browser?.close();
    await flock.second?.close();
    await flock.volunteer?.close();
    await flock.coordinator?.close();
    if (flock.workDir !== undefined) await rm(flock.workDir, { recursive: true, force: true });
  });
  return flock;
}
