// audio.* and video.* (#15) in real Chromium against a real coordinator: the tab's executor runs
// FFmpeg's WASM core (@ffmpeg/core-mt in this cross-origin-isolated page, its pthread workers
// started from Blob URLs; @ffmpeg/core where the page is not isolated), fetched from the coordinator
// and checked against the page's manifest. Inputs are generated here with Debian's ffmpeg; each
// output is judged against the Node reference (Debian's ffmpeg with the same argv) under its
// method's compare rule; last, a page served without COOP/COEP runs the single-threaded core. The
// first job loads the core (cold), the second finds it warm; a playlist
// reaching for another file fails FORBIDDEN and the tab serves the next job.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getMethod } from '@flock/libraries';
import { runReference } from '@flock/libraries/reference';
import { type Browser, expect, type Page, test } from '@playwright/test';
import {
  decodeFrames,
  decodePcm,
  mediaAgrees,
} from '../../packages/libraries/src/reference/media-compare.ts';
import { launchChromium } from '../support/chromium.ts';
import { type PageProxy, startPageProxy } from '../support/page-proxy.ts';
import { openVolunteerTab } from '../support/volunteer-tab.ts';
import { Harness, libraryTask, type ResultView, taskId } from './volunteer-harness.ts';

test.describe.configure({ mode: 'serial' });

let harness: Harness;
let browser: Browser;
let page: Page;
let proxy: PageProxy | undefined;

/** Media made by Debian's ffmpeg from lavfi sources; `name`'s extension picks the container. */
function generate(name: string, args: string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'flock-media-e2e-'));
  try {
    const run = spawnSync('/usr/bin/ffmpeg', [
      '-hide_banner',
      '-v',
      'error',
      '-nostdin',
      ...args,
      join(dir, name),
    ]);
    if (run.status !== 0) throw new Error(`ffmpeg could not make ${name}: ${run.stderr.toString()}`);
    return readFileSync(join(dir, name));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const WAV = generate('tone.wav', [
  ...['-f', 'lavfi', '-i', 'aevalsrc=0.4*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=44100:d=1'],
  ...['-c:a', 'pcm_s16le'],
]);
const MP4 = generate('clip.mp4', [
  ...['-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=10:d=1', '-f', 'lavfi', '-i', 'sine=f=440:d=1'],
  ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'],
]);
const PLAYLIST = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n');

type Input = { name: string; contentType: string; bytes: Buffer };
const wav: Input = { name: 'tone.wav', contentType: 'audio/wav', bytes: WAV };
const mp4: Input = { name: 'clip.mp4', contentType: 'video/mp4', bytes: MP4 };

/** Runs `op` in the tab, checks it against the reference under the method's rule; returns the result. */
async function runAndCompare(op: string, params: unknown, inputs: Input[]): Promise<ResultView> {
  const id = taskId(op.replace('.', '-'));
  await harness.submit(libraryTask(id, op, params, inputs));
  const view = await harness.waitFor(id, 'succeeded', 60_000);
  expect(view.executor).toBe(`library:${op.split('.')[0]}`);
  const result = await harness.result(id);
  const reference = await runReference(
    op,
    params,
    inputs.map((i) => ({ name: i.name, contentType: i.contentType, bytes: new Uint8Array(i.bytes) })),
  );
  expect(result.outputs?.map((o) => o.name)).toEqual(reference.outputs.map((o) => o.name));
  const rule = getMethod(op).compare;
  for (const want of reference.outputs) {
    const got = await harness.output(result, want.name);
    expect(mediaAgrees(rule, got, want.bytes), `${op} ${want.name}`).toBe(true);
  }
  return result;
}

test.beforeAll(async () => {
  harness = await Harness.start();
  browser = await launchChromium({ webgpu: false });
  page = (await openVolunteerTab(browser, `${harness.url}/`)).page;
});

test.afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await harness?.close();
});

test('audio: FLAC sample-exact to the reference, cold; Opus within tolerance, warm', async () => {
  const isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
  const cold = await runAndCompare('audio.transcode', { format: 'flac' }, [wav]);
  expect(cold.metrics?.['library_warm']).toBe('0');
  // The multi-threaded core's three files in an isolated page, else the single-threaded core's two.
  expect(cold.metrics?.['library_fetched_bytes']).toBe(isolated ? '32849385' : '32344223');
  const warm = await runAndCompare('audio.transcode', { format: 'opus', bitrate_kbps: 64 }, [wav]);
  expect(warm.metrics?.['library_warm']).toBe('1');
  const pcm = decodePcm(await harness.output(warm, 'tone.opus'));
  expect([pcm.sampleRate, pcm.channels]).toEqual([48000, 2]);
  console.log(
    `media e2e: isolated ${isolated}; cold ${cold.metrics?.['library_ms']} ms, warm ${warm.metrics?.['library_ms']} ms`,
  );
});

test('audio.normalize and audio.trim match the reference sample for sample', async () => {
  const normalized = await runAndCompare('audio.normalize', { integrated_lufs: -16 }, [wav]);
  expect(normalized.summary?.['tone.wav']).toMatch(/^input -\d+\.\d+ LUFS/);
  const trimmed = await runAndCompare('audio.trim', { start: 0.25, duration: 0.5 }, [wav]);
  expect(decodePcm(await harness.output(trimmed, 'tone.wav')).samples.length).toBe(2 * 22050);
});

test('video: H.264 scaled and PNG frames pixel-exact to the reference', async () => {
  const video = await runAndCompare('video.transcode', { container: 'mp4', width: 80 }, [mp4]);
  const frames = decodeFrames(await harness.output(video, 'clip.mp4'));
  expect([frames.width, frames.height, frames.frames.length]).toEqual([80, 60, 10]);
  const stills = await runAndCompare('video.extract_frames', { fps: 2, count: 3 }, [mp4]);
  expect(stills.outputs?.map((o) => o.name)).toEqual(['clip_0001.png', 'clip_0002.png']);
});

test('a playlist reaching for /etc/passwd fails FORBIDDEN, not retried; the tab serves the next job', async () => {
  const id = taskId('media-hls');
  await harness.submit(
    libraryTask(id, 'audio.transcode', { format: 'wav' }, [
      { name: 'list.m3u8', contentType: 'application/vnd.apple.mpegurl', bytes: PLAYLIST },
    ]),
  );
  const view = await harness.waitFor(id, 'failed', 60_000);
  expect(view.failure?.code).toBe('FORBIDDEN');
  expect(view.attempts).toHaveLength(1);
  await runAndCompare('audio.transcode', { format: 'mp3' }, [wav]);
});

test('a page without cross-origin isolation runs the single-threaded core: cold, warm, VP9', async () => {
  await page.close();
  const connected = async () =>
    (await harness.api<{ workers: Array<{ connected: boolean }> }>('GET', '/v1/workers')).body.workers.filter(
      (w) => w.connected,
    ).length;
  await expect.poll(connected).toBe(0);
  proxy = await startPageProxy(harness.url, { stripIsolation: true });
  page = await browser.newPage();
  await page.goto(`${proxy.url}/`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  await page.getByRole('button', { name: 'Start donating compute' }).click();
  await expect(page.locator('#connection')).toHaveText('open');
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(false);
  const cold = await runAndCompare('audio.transcode', { format: 'flac' }, [wav]);
  expect(cold.metrics?.['library_warm']).toBe('0');
  expect(cold.metrics?.['library_fetched_bytes']).toBe('32344223');
  // libopus and libvpx-vp9 overflow the build's own 64 KiB stack: the runtime's 8 MiB one holds.
  const warm = await runAndCompare('audio.transcode', { format: 'opus' }, [wav]);
  expect(warm.metrics?.['library_warm']).toBe('1');
  await runAndCompare('video.transcode', { container: 'webm', audio: false, preset: 'ultrafast' }, [mp4]);
  console.log(
    `media e2e (single-threaded core): cold ${cold.metrics?.['library_ms']} ms, warm ${warm.metrics?.['library_ms']} ms`,
  );
});
