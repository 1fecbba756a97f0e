// A headless Chromium the bench can let go of. Playwright's own launch keeps a DevTools session on
// the page, and that session reports every WebSocket frame (Network.webSocketFrame*): three
// DevTools events per job, serialised in the renderer, passed through the browser process and
// written to Playwright's pipe. A volunteer's tab has none of that. So the bench starts Chromium
// itself, attaches over CDP only to act on the page (press Start, pause, read counters) and
// detaches while it measures.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { CHROMIUM_PATH, chromiumArgs } from '../../../e2e/support/chromium.ts';

export class DetachedTab {
  private constructor(
    private readonly process: ChildProcess,
    private readonly endpoint: string,
    private readonly profile: string,
  ) {}

  /** Starts Chromium on `url` (one page, in the default context). */
  static async launch(url: string, options: { webgpu?: boolean } = {}): Promise<DetachedTab> {
    const profile = await mkdtemp(join(tmpdir(), 'flock-bench-chromium-'));
    const child = spawn(
      CHROMIUM_PATH,
      [
        '--headless',
        ...chromiumArgs(options),
        '--remote-debugging-port=0',
        `--user-data-dir=${profile}`,
        url,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const endpoint = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(
        () => reject(new Error(`Chromium did not start: ${text.slice(-500)}`)),
        30_000,
      );
      child.stderr!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`Chromium exited (${code}): ${text.slice(-500)}`)));
    });
    child.stderr!.resume();
    return new DetachedTab(child, endpoint, profile);
  }

  /** Attaches, runs `act` on the page, and detaches again (the page keeps running). */
  async with<T>(act: (page: Page) => Promise<T>): Promise<T> {
    const browser = await chromium.connectOverCDP(this.endpoint);
    try {
      const page = browser.contexts()[0]?.pages()[0];
      if (!page) throw new Error('the tab has no page');
      return await act(page);
    } finally {
      // Over CDP, close() only disconnects: the default context and its page stay.
      await browser.close();
    }
  }

  async close(): Promise<void> {
    const child = this.process;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    // Chromium's helper processes may still be writing the profile for a moment.
    await rm(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}
