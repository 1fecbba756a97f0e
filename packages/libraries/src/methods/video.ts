// video.*: FFmpeg (@ffmpeg/core) on video inputs. The codecs are the WASM core's video encoders
// that browsers play (libx264, libvpx VP8 and VP9); frames come out as PNG or JPEG.
import { LibraryError } from '../library-error.ts';
import type { MethodDefinition } from '../method.ts';
import type { ParamSpec, Params } from '../params.ts';
import { TRIM_FIELDS } from './audio.ts';

export const VIDEO_CONTAINERS = ['mp4', 'webm', 'mkv'] as const;
export type VideoContainer = (typeof VIDEO_CONTAINERS)[number];

export const VIDEO_CODECS = ['h264', 'vp8', 'vp9'] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

/** The codecs each container holds; the first is its default. */
export const VIDEO_CONTAINER_CODECS: Readonly<Record<VideoContainer, readonly VideoCodec[]>> = {
  mp4: ['h264'],
  webm: ['vp9', 'vp8'],
  mkv: ['h264', 'vp9', 'vp8'],
};

/** The CRF scale of each codec. */
export const VIDEO_CRF: Readonly<Record<VideoCodec, readonly [number, number]>> = {
  h264: [0, 51],
  vp8: [4, 63],
  vp9: [0, 63],
};

/** Defaults when neither `crf` nor `bitrate_kbps` is given. */
export const VIDEO_DEFAULT_CRF: Readonly<Record<VideoCodec, number>> = { h264: 23, vp8: 10, vp9: 32 };

export const VIDEO_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
] as const;
export type VideoPreset = (typeof VIDEO_PRESETS)[number];

const dimension = (doc: string): ParamSpec => ({ type: 'integer', doc, min: 16, max: 4096 });

function fail(field: string, message: string): never {
  throw new LibraryError('INVALID_PARAMS', `params.${field} ${message}`, `params.${field}`);
}

/** The codec a call encodes with: params.codec, checked against the container, or its default. */
export function videoCodecOf(params: Params, container: VideoContainer): VideoCodec {
  const allowed = VIDEO_CONTAINER_CODECS[container];
  const chosen = params['codec'] as VideoCodec | undefined;
  if (chosen === undefined) return allowed[0]!;
  if (!allowed.includes(chosen)) fail('codec', `must be one of ${allowed.join(', ')} for ${container}`);
  return chosen;
}

function checkTranscode(p: Params): void {
  const codec = videoCodecOf(p, p['container'] as VideoContainer);
  const crf = p['crf'] as number | undefined;
  if (crf !== undefined) {
    if (p['bitrate_kbps'] !== undefined) fail('crf', 'and params.bitrate_kbps exclude each other');
    const [min, max] = VIDEO_CRF[codec];
    if (crf < min || crf > max) fail('crf', `must be ${min} to ${max} for ${codec}`);
  }
  // 4:2:0 video has even dimensions.
  for (const side of ['width', 'height']) {
    const value = p[side] as number | undefined;
    if (value !== undefined && value % 2 !== 0) fail(side, 'must be even');
  }
}

export const VIDEO_METHODS: readonly MethodDefinition[] = [
  {
    library: 'video',
    method: 'transcode',
    doc: 'Re-encodes every input (H.264, VP8 or VP9; AAC or Opus audio), optionally scaled and at another frame rate',
    params: {
      fields: {
        container: { type: 'enum', doc: 'mp4, webm or mkv', values: VIDEO_CONTAINERS },
        codec: {
          type: 'enum',
          doc: 'h264 (libx264), vp8 or vp9 (libvpx); default: h264 for mp4 and mkv, vp9 for webm',
          values: VIDEO_CODECS,
        },
        crf: {
          type: 'integer',
          doc: 'constant quality (h264 0–51, default 23; vp8 4–63, default 10; vp9 0–63, default 32)',
          min: 0,
          max: 63,
        },
        bitrate_kbps: { type: 'integer', doc: 'target bitrate instead of crf, kbit/s', min: 50, max: 50_000 },
        preset: {
          type: 'enum',
          doc: 'speed against size (x264 presets; for VP8/VP9 mapped onto cpu-used)',
          values: VIDEO_PRESETS,
          default: 'veryfast',
        },
        width: dimension(
          'output width, even (default: the input’s; with only height given, keeps the aspect)',
        ),
        height: dimension(
          'output height, even (default: the input’s; with only width given, keeps the aspect)',
        ),
        fps: { type: 'number', doc: 'output frame rate (default: the input’s)', min: 1, max: 120 },
        audio: { type: 'boolean', doc: 'keep the first audio stream (AAC, Opus in webm)', default: true },
        audio_bitrate_kbps: {
          type: 'integer',
          doc: 'audio bitrate, kbit/s',
          min: 32,
          max: 320,
          default: 128,
        },
      },
      required: ['container'],
    },
    inputs: { min: 1, max: 8, doc: 'video files' },
    outputs: '`<input stem>.<container>` per input',
    // Measured by test/media.test.ts (the WASM core in Node against Debian's ffmpeg 5.1 with
    // `-cpuflags 0` and x264's `asm=0`: H.264 scaled, VP8 and VP9, each decoded to RGB by Debian's
    // ffmpeg): the frames are identical. Only the video stream is compared (webm's Opus audio is
    // not sample-exact; see LOSSY_AUDIO_MIN_SNR_DB).
    compare: { kind: 'pixels', maxDiff: 0 },
    check: checkTranscode,
  },
  {
    library: 'video',
    method: 'trim',
    doc: 'Keeps `duration` seconds from `start` of every input, re-encoded (frame-accurate)',
    params: {
      fields: {
        ...TRIM_FIELDS,
        container: {
          type: 'enum',
          doc: 'the container (default: the input’s, by its extension, else mp4)',
          values: VIDEO_CONTAINERS,
        },
      },
    },
    inputs: { min: 1, max: 8, doc: 'video files' },
    outputs: '`<input stem>.<container>` per input',
    // As transcode.
    compare: { kind: 'pixels', maxDiff: 0 },
  },
  {
    library: 'video',
    method: 'extract_frames',
    doc: 'Frames of every input as images: `fps` a second (or one every `every_seconds`) from `start`',
    params: {
      fields: {
        fps: { type: 'number', doc: 'frames a second (default 1)', min: 0.01, max: 60 },
        every_seconds: {
          type: 'number',
          doc: 'one frame every this many seconds, instead of fps',
          min: 0.1,
          max: 3600,
        },
        start: { type: 'number', doc: 'where the first frame is, seconds', min: 0, max: 86_400, default: 0 },
        count: {
          type: 'integer',
          doc: 'at most this many frames per input',
          min: 1,
          max: 1000,
          default: 100,
        },
        format: { type: 'enum', doc: 'png or jpeg', values: ['png', 'jpeg'], default: 'png' },
        jpeg_qscale: { type: 'integer', doc: 'JPEG quantizer, 2 (best) to 31', min: 2, max: 31, default: 3 },
        width: dimension('frame width; the height keeps the aspect (default: the input’s)'),
      },
    },
    inputs: { min: 1, max: 8, doc: 'video files' },
    outputs: '`<input stem>_0001.<png|jpg>`, `_0002`, … per input',
    // Measured by test/media.test.ts against the reference: PNG and JPEG frames decode identically.
    compare: { kind: 'pixels', maxDiff: 0 },
    check: (p) => {
      if (p['fps'] !== undefined && p['every_seconds'] !== undefined)
        fail('fps', 'and params.every_seconds exclude each other');
    },
  },
];
