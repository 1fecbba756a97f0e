// What the page's State row says the tab is doing.
import type { ConnectionState } from './worker-connection.ts';

/**
 * The State row: why the tab takes no work (`pauseReason`), else "working" while a job runs or
 * waits in an executor, else "waiting for work" when connected and "waiting for the coordinator"
 * while the connection is down (a job that runs on meanwhile still reads "working"), or why it
 * stopped trying when the coordinator refused it for good.
 */
export function activityText(pauseReason: string | null, connection: ConnectionState, jobs: number): string {
  if (pauseReason) return pauseReason;
  if (jobs > 0) return 'working';
  if (connection === 'refused') return 'stopped: the coordinator refused this tab';
  return connection === 'open' ? 'waiting for work' : 'waiting for the coordinator';
}
