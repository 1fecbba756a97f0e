// FFmpeg's WASM core in Node for the media tests and bench, and the media they run on. The core's
// ESM glue is the browser's own (dist/esm, the file the tab fetches): it is built for Workers
// (ENVIRONMENT_IS_WORKER is fixed true) and reads `self.location.href` once at start, which Node
// lacks, so a stand-in `self` is installed; everything else (the glue imported from its bytes, the
// WASM compiled and instantiated through instantiateWasm) is the tab's code path. Node has no
// Worker, so the runtime picks the single-threaded core here; the multi-threaded one runs only in
// a browser (e2e/tests/library-media.spec.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LibraryName } from '../../src/index.ts';
import { FFMPEG } from '../../src/reference/media.ts';
import type { LibraryInput, RuntimeContext } from '../../src/runtime/index.ts';
import { type NodeContext, nodeContext } from './node-context.ts';

const scope = globalThis as { self?: unknown };
scope.self ??= { location: { href: 'file:///flock-executor-worker.js' } };

const require = createRequire(import.meta.url);

/**
 * An FFmpeg core's directory: its `exports` hide `package.json`, so it is found from the package's
 * `require` entry (`dist/umd/ffmpeg-core.js`).
 */
export const ffmpegDir = (pkg: string): string => dirname(dirname(dirname(require.resolve(pkg))));

/** nodeContext reading the FFmpeg cores' files from their directories (recorded in `fetched`). */
export function mediaContext(
  library: Extract<LibraryName, 'audio' | 'video'>,
  limits: Partial<RuntimeContext['limits']> = {},
): NodeContext {
  const ctx = nodeContext(library, limits);
  return Object.assign(ctx, {
    file: async (pkg: string, path: string) => {
      ctx.fetched.push(`${pkg}/${path}`);
      return new Uint8Array(readFileSync(join(ffmpegDir(pkg), path)));
    },
    url: (pkg: string, path: string) => pathToFileURL(join(ffmpegDir(pkg), path)).href,
  });
}

const made = new Map<string, Uint8Array>();
let workdir: string | undefined;

/**
 * Media made by Debian's ffmpeg from lavfi sources: `args` are its arguments between `-f lavfi`
 * inputs and the output file `name` (whose extension picks the container). Made once per process.
 */
export function generate(name: string, args: readonly string[]): Uint8Array {
  const cached = made.get(name);
  if (cached) return cached;
  workdir ??= mkdtempSync(join(tmpdir(), 'flock-media-fixtures-'));
  const out = join(workdir, name);
  const run = spawnSync(FFMPEG, ['-hide_banner', '-v', 'error', '-nostdin', '-y', ...args, out]);
  if (run.status !== 0) throw new Error(`ffmpeg could not make ${name}: ${run.stderr.toString()}`);
  const bytes = new Uint8Array(readFileSync(out));
  made.set(name, bytes);
  return bytes;
}

/** `seconds` of 44.1 kHz stereo: 440 Hz left, 660 Hz right, a slow swell (loudnorm has work). */
export const stereoWav = (seconds: number): Uint8Array =>
  generate(`tone-${seconds}s.wav`, [
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=0.5*(0.4+0.6*t/${seconds})*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=44100:d=${seconds}`,
    '-c:a',
    'pcm_s16le',
  ]);

/** One second of testsrc2 at 160×120, 10 fps, with a 440 Hz mono track: H.264 and AAC in MP4. */
export const testMp4 = (): Uint8Array =>
  generate('clip.mp4', [
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=160x120:r=10:d=1',
    '-f',
    'lavfi',
    '-i',
    'sine=f=440:d=1',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
  ]);

export const input = (
  name: string,
  bytes: Uint8Array,
  contentType = 'application/octet-stream',
): LibraryInput => ({
  name,
  contentType,
  bytes,
});
