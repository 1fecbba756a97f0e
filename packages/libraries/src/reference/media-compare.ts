// Decoding audio and video outputs with Debian's ffmpeg to judge two of them under a method's
// `compare` rule: audio as float PCM (`samples`: the largest difference of full scale), video and
// frames as RGB pictures (`pixels`: the largest difference of a channel, 0..255). Outputs of
// different shapes (rate, channels, length; frame count or size) differ by Infinity.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Comparison } from '../method.ts';
import { FFMPEG } from './media.ts';

/** Decoded PCM: interleaved float samples. */
export interface Pcm {
  sampleRate: number;
  channels: number;
  samples: Float32Array;
}

/** Decoded pictures, RGB 8-bit. */
export interface Frames {
  width: number;
  height: number;
  frames: Uint8Array[];
}

/** Runs Debian's ffmpeg on `bytes` (as a file: MP4's index may lie at its end) and returns stdout. */
function decode(bytes: Uint8Array, output: readonly string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'flock-media-cmp-'));
  try {
    writeFileSync(join(dir, 'in'), bytes);
    const result = spawnSync(FFMPEG, ['-v', 'error', '-nostdin', '-i', 'in', ...output, '-'], {
      cwd: dir,
      maxBuffer: 1 << 30,
    });
    if (result.status !== 0)
      throw new Error(
        `ffmpeg could not decode: ${result.stderr?.toString().trim() || result.error?.message}`,
      );
    return result.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** As `decode`, without blocking the event loop (the coordinator judges spot checks with it). */
async function decodeAsync(bytes: Uint8Array, output: readonly string[]): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'flock-media-cmp-'));
  try {
    await writeFile(join(dir, 'in'), bytes);
    return await new Promise<Buffer>((resolve, reject) =>
      execFile(
        FFMPEG,
        ['-v', 'error', '-nostdin', '-i', 'in', ...output, '-'],
        { cwd: dir, encoding: 'buffer', maxBuffer: 1 << 30 },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`ffmpeg could not decode: ${stderr.toString().trim() || error.message}`))
            : resolve(stdout),
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const PCM_ARGS = ['-map', '0:a:0', '-c:a', 'pcm_f32le', '-f', 'wav'];
const FRAME_ARGS = ['-map', '0:v:0', '-c:v', 'ppm', '-f', 'image2pipe'];

/** The first audio stream as float PCM (read from the WAV ffmpeg writes). */
export function decodePcm(bytes: Uint8Array): Pcm {
  return pcmOf(decode(bytes, PCM_ARGS));
}

function pcmOf(wav: Buffer): Pcm {
  const channels = wav.readUInt16LE(22);
  const sampleRate = wav.readUInt32LE(24);
  let at = 12;
  while (at + 8 <= wav.length && wav.toString('latin1', at, at + 4) !== 'data')
    at += 8 + wav.readUInt32LE(at + 4);
  const start = at + 8;
  // A piped WAV's data size is unknown (0 or 0xFFFFFFFF): the samples run to the end.
  const data = wav.subarray(start, start + Math.floor((wav.length - start) / 4) * 4);
  const samples = new Float32Array(data.length / 4);
  for (let i = 0; i < samples.length; i++) samples[i] = data.readFloatLE(4 * i);
  return { sampleRate, channels, samples };
}

/** Every picture of the first video stream (or of an image) as RGB, from a stream of PPMs. */
export function decodeFrames(bytes: Uint8Array): Frames {
  return framesOf(decode(bytes, FRAME_ARGS));
}

function framesOf(ppm: Buffer): Frames {
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let at = 0;
  while (at < ppm.length) {
    // "P6\n<w> <h>\n255\n" then w*h*3 bytes.
    const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.toString('latin1', at, at + 32));
    if (!header) throw new Error('ffmpeg wrote something that is not a PPM');
    width = Number(header[1]);
    height = Number(header[2]);
    const start = at + header[0].length;
    frames.push(new Uint8Array(ppm.subarray(start, start + width * height * 3)));
    at = start + width * height * 3;
  }
  return { width, height, frames };
}

/** The largest difference between two audio outputs' samples, of full scale. */
export function maxSampleDiff(a: Uint8Array, b: Uint8Array): number {
  return pcmDistance(decodePcm(a), decodePcm(b));
}

function pcmDistance(x: Pcm, y: Pcm): number {
  if (x.sampleRate !== y.sampleRate || x.channels !== y.channels || x.samples.length !== y.samples.length)
    return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < x.samples.length; i++) max = Math.max(max, Math.abs(x.samples[i]! - y.samples[i]!));
  return max;
}

/** The largest difference between two video (or image) outputs' pixels, 0..255. */
export function maxFrameDiff(a: Uint8Array, b: Uint8Array): number {
  return frameDistance(decodeFrames(a), decodeFrames(b));
}

function frameDistance(x: Frames, y: Frames): number {
  if (x.width !== y.width || x.height !== y.height || x.frames.length !== y.frames.length)
    return Number.POSITIVE_INFINITY;
  let max = 0;
  for (const [f, frame] of x.frames.entries()) {
    const other = y.frames[f]!;
    for (let i = 0; i < frame.length; i++) max = Math.max(max, Math.abs(frame[i]! - other[i]!));
  }
  return max;
}

/**
 * The signal-to-noise ratio of `x` against the reference `y`, in dB: Infinity when equal,
 * -Infinity when their rate, channels or length differ.
 */
function snrDb(x: Pcm, y: Pcm): number {
  if (x.sampleRate !== y.sampleRate || x.channels !== y.channels || x.samples.length !== y.samples.length)
    return Number.NEGATIVE_INFINITY;
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < y.samples.length; i++) {
    signal += y.samples[i]! ** 2;
    noise += (x.samples[i]! - y.samples[i]!) ** 2;
  }
  return noise === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
}

/** The SNR of audio output `a` against the reference's `b`, in dB (see `snrDb`). */
export function sampleSnrDb(a: Uint8Array, b: Uint8Array): number {
  return snrDb(decodePcm(a), decodePcm(b));
}

/** Whether output `a` agrees with the reference's `b` under `rule`. */
export function mediaAgrees(rule: Comparison, a: Uint8Array, b: Uint8Array): boolean {
  return rule.kind === 'snr' ? sampleSnrDb(a, b) >= rule.minDb : mediaDistance(rule, a, b) <= maxDiffOf(rule);
}

/** As `mediaAgrees`, with ffmpeg run asynchronously: the coordinator's event loop goes on. */
export async function mediaAgreesAsync(rule: Comparison, a: Uint8Array, b: Uint8Array): Promise<boolean> {
  if (rule.kind !== 'snr') return (await mediaDistanceAsync(rule, a, b)) <= maxDiffOf(rule);
  const [x, y] = await Promise.all([decodeAsync(a, PCM_ARGS), decodeAsync(b, PCM_ARGS)]);
  return snrDb(pcmOf(x), pcmOf(y)) >= rule.minDb;
}

const maxDiffOf = (rule: Comparison): number => ('maxDiff' in rule ? rule.maxDiff : 0);

/** How far apart two outputs are under `rule`'s measure (exact: 0 or Infinity). */
export function mediaDistance(rule: Comparison, a: Uint8Array, b: Uint8Array): number {
  switch (rule.kind) {
    case 'exact':
      return Buffer.from(a).equals(Buffer.from(b)) ? 0 : Number.POSITIVE_INFINITY;
    case 'samples':
      return maxSampleDiff(a, b);
    case 'pixels':
      return maxFrameDiff(a, b);
    case 'snr':
    case 'values':
    case 'tensors':
    case 'classes':
      throw new Error(`${rule.kind} is no media distance`);
  }
}

/** As `mediaDistance`, with ffmpeg run asynchronously: the coordinator's event loop goes on. */
export async function mediaDistanceAsync(rule: Comparison, a: Uint8Array, b: Uint8Array): Promise<number> {
  switch (rule.kind) {
    case 'exact':
      return mediaDistance(rule, a, b);
    case 'samples': {
      const [x, y] = await Promise.all([decodeAsync(a, PCM_ARGS), decodeAsync(b, PCM_ARGS)]);
      return pcmDistance(pcmOf(x), pcmOf(y));
    }
    case 'pixels': {
      const [x, y] = await Promise.all([decodeAsync(a, FRAME_ARGS), decodeAsync(b, FRAME_ARGS)]);
      return frameDistance(framesOf(x), framesOf(y));
    }
    case 'snr':
    case 'values':
    case 'tensors':
    case 'classes':
      return mediaDistance(rule, a, b);
  }
}
