// audio.*: FFmpeg (@ffmpeg/core) on audio inputs. The formats and codecs below are the ones the
// WASM core has encoders for (`ffmpeg -encoders` in @ffmpeg/core 0.12.10: libmp3lame, libvorbis,
// libopus, aac, alac, flac, pcm_*); the argv builder (runtime/media-args.ts) maps each to FFmpeg's
// options, and nothing a caller writes reaches FFmpeg's command line except through these enums
// and range-checked numbers.
import { LibraryError } from '../library-error.ts';
import type { MethodDefinition } from '../method.ts';
import type { ParamSpec, Params } from '../params.ts';

export const AUDIO_FORMATS = ['mp3', 'ogg', 'opus', 'wav', 'flac', 'm4a'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export const AUDIO_CODECS = [
  'mp3',
  'vorbis',
  'opus',
  'aac',
  'alac',
  'flac',
  'pcm_s16le',
  'pcm_s24le',
  'pcm_f32le',
] as const;
export type AudioCodec = (typeof AUDIO_CODECS)[number];

/** The codecs each format holds; the first is its default. */
export const AUDIO_FORMAT_CODECS: Readonly<Record<AudioFormat, readonly AudioCodec[]>> = {
  mp3: ['mp3'],
  ogg: ['vorbis', 'opus', 'flac'],
  opus: ['opus'],
  wav: ['pcm_s16le', 'pcm_s24le', 'pcm_f32le'],
  flac: ['flac'],
  m4a: ['aac', 'alac'],
};

/** Lossy codecs, with the bitrates (kbit/s) their encoder accepts. */
export const AUDIO_BITRATES: Readonly<Partial<Record<AudioCodec, readonly [number, number]>>> = {
  mp3: [8, 320],
  vorbis: [32, 500],
  opus: [6, 510],
  aac: [16, 512],
};

/** Sample rates an encoder takes, where it does not take any. */
const CODEC_RATES: Readonly<Partial<Record<AudioCodec, readonly number[]>>> = {
  mp3: [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000],
  opus: [8000, 12000, 16000, 24000, 48000],
};

const MAX_SECONDS = 86_400;

/** Trim's window, shared with video.trim. */
export const TRIM_FIELDS: Readonly<Record<string, ParamSpec>> = {
  start: { type: 'number', doc: 'where the kept part starts, seconds', min: 0, max: MAX_SECONDS, default: 0 },
  duration: {
    type: 'number',
    doc: 'how long the kept part is, seconds (default: to the end)',
    min: 0.001,
    max: MAX_SECONDS,
  },
};

const format = (formats: readonly string[], doc: string, fallback?: string): ParamSpec =>
  fallback === undefined
    ? { type: 'enum', doc, values: formats }
    : { type: 'enum', doc, values: formats, default: fallback };
const codec: ParamSpec = {
  type: 'enum',
  doc: "the encoder (default: the format's first: mp3, vorbis, opus, pcm_s16le, flac, aac)",
  values: AUDIO_CODECS,
};
const sampleRate = (doc: string): ParamSpec => ({ type: 'integer', doc, min: 8000, max: 192_000 });
const LOSSLESS_FORMATS = ['wav', 'flac'];

function fail(field: string, message: string): never {
  throw new LibraryError('INVALID_PARAMS', `params.${field} ${message}`, `params.${field}`);
}

/** The codec a call encodes with: params.codec, checked against the format, or the format's default. */
export function audioCodecOf(params: Params, format: AudioFormat): AudioCodec {
  const allowed = AUDIO_FORMAT_CODECS[format];
  const chosen = params['codec'] as AudioCodec | undefined;
  if (chosen === undefined) return allowed[0]!;
  if (!allowed.includes(chosen)) fail('codec', `must be one of ${allowed.join(', ')} for ${format}`);
  return chosen;
}

/** What the schema cannot say about an audio encoding: codec, bitrate, rate and channels fit together. */
export function checkAudioEncoding(params: Params, format: AudioFormat): void {
  const chosen = audioCodecOf(params, format);
  const bitrate = params['bitrate_kbps'] as number | undefined;
  const range = AUDIO_BITRATES[chosen];
  if (bitrate !== undefined) {
    if (!range) fail('bitrate_kbps', `does not apply to the lossless ${chosen}`);
    if (bitrate < range[0] || bitrate > range[1])
      fail('bitrate_kbps', `must be ${range[0]} to ${range[1]} for ${chosen}`);
  }
  const rate = params['sample_rate'] as number | undefined;
  const rates = CODEC_RATES[chosen];
  if (rate !== undefined && rates && !rates.includes(rate))
    fail('sample_rate', `must be one of ${rates.join(', ')} for ${chosen}`);
  const channels = params['channels'] as number | undefined;
  if (channels !== undefined && channels > 2 && (chosen === 'mp3' || chosen === 'opus'))
    fail('channels', `must be 1 or 2 for ${chosen}`);
}

/**
 * How close the tab's decoded audio must stay to the reference's for methods that may encode
 * lossily: a signal-to-noise ratio of at least this many dB over the whole output (rate, channels
 * and length must be equal). Measured with `npx tsx bench/libraries/media.ts --tolerance --verbose`
 * (the WASM core in Node against Debian's ffmpeg 5.1 as the reference runs it, both decoded to
 * float PCM by Debian's ffmpeg; 2 s of a two-tone mix, a sine, a chirp, pink and white noise at
 * -6 dBFS and white noise at 0 dBFS, mono and stereo, each lossy codec at its lowest, a middle and
 * its highest bitrate), 2026-12-07: mp3 (libmp3lame), alac, flac and PCM come out sample-exact
 * (the reference runs with `-cpuflags 0`: FFmpeg's C code, as the WASM build's); aac stays 56 dB
 * or more; libvorbis and libopus use their own float code (libopus its own SIMD natively) and take
 * other coding decisions: single samples of noise differ by up to 1.13 of full scale, so a
 * largest-sample rule cannot tell right from wrong, while the SNR stays at 25 dB or more for
 * libvorbis and 9.8 dB or more for libopus (stereo white noise at 96 kbit/s; tones 43 dB or more).
 * 7 dB leaves a margin and still refuses other audio: a different tone scores about −3 dB,
 * silence 0 dB, the right signal at half volume 6.0 dB. Tabs agree with each other byte for byte
 * (the WASM build is deterministic), which the comparison tries first.
 */
export const LOSSY_AUDIO_MIN_SNR_DB = 7;

export const AUDIO_METHODS: readonly MethodDefinition[] = [
  {
    library: 'audio',
    method: 'transcode',
    doc: 'Re-encodes every input to a format and codec, optionally at another bitrate, rate or channel count',
    params: {
      fields: {
        format: format(AUDIO_FORMATS, 'the container: mp3, ogg, opus, wav, flac or m4a (AAC/ALAC)'),
        codec,
        bitrate_kbps: {
          type: 'integer',
          doc: 'bitrate of a lossy codec, kbit/s (libvorbis refuses some for a rate and channel count: INVALID_PARAMS)',
          min: 6,
          max: 512,
        },
        sample_rate: sampleRate(
          'output sample rate, Hz (default: the input’s, or the nearest the codec takes)',
        ),
        channels: {
          type: 'integer',
          doc: 'output channels, downmixed or upmixed (default: the input’s)',
          min: 1,
          max: 8,
        },
      },
      required: ['format'],
    },
    inputs: { min: 1, max: 32, doc: 'audio files (or videos: their first audio stream)' },
    outputs: '`<input stem>.<format>` per input',
    compare: { kind: 'snr', minDb: LOSSY_AUDIO_MIN_SNR_DB },
    check: (p) => checkAudioEncoding(p, p['format'] as AudioFormat),
  },
  {
    library: 'audio',
    method: 'resample',
    doc: 'Converts every input to another sample rate (FFmpeg’s swresample), losslessly encoded',
    params: {
      fields: {
        sample_rate: sampleRate('the new sample rate, Hz'),
        format: format(LOSSLESS_FORMATS, 'the container: wav or flac', 'wav'),
        codec,
      },
      required: ['sample_rate'],
    },
    inputs: { min: 1, max: 32, doc: 'audio files' },
    outputs: '`<input stem>.<format>` per input',
    // Measured by test/media.test.ts against the reference: sample-exact (swresample is FFmpeg's C code).
    compare: { kind: 'samples', maxDiff: 0 },
    check: (p) => checkAudioEncoding(p, p['format'] as AudioFormat),
  },
  {
    library: 'audio',
    method: 'normalize',
    doc: 'EBU R128 loudness normalization (FFmpeg’s loudnorm): a measuring pass, then linear gain where the targets allow it',
    params: {
      fields: {
        integrated_lufs: {
          type: 'number',
          doc: 'integrated loudness target, LUFS',
          min: -70,
          max: -5,
          default: -23,
        },
        true_peak_dbtp: { type: 'number', doc: 'maximum true peak, dBTP', min: -9, max: 0, default: -1 },
        lra: { type: 'number', doc: 'loudness range target, LU', min: 1, max: 50, default: 7 },
        linear: {
          type: 'boolean',
          doc: 'apply one gain from the measuring pass when the targets allow it (else dynamic)',
          default: true,
        },
        sample_rate: sampleRate('output sample rate, Hz (default: the input’s)'),
        format: format(LOSSLESS_FORMATS, 'the container: wav or flac', 'wav'),
        codec,
      },
    },
    inputs: { min: 1, max: 32, doc: 'audio files' },
    outputs: '`<input stem>.<format>` per input; the summary holds each input’s measured loudness',
    // Measured by test/media.test.ts against the reference: sample-exact (loudnorm is FFmpeg's C code).
    compare: { kind: 'samples', maxDiff: 0 },
    check: (p) => checkAudioEncoding(p, p['format'] as AudioFormat),
  },
  {
    library: 'audio',
    method: 'trim',
    doc: 'Keeps `duration` seconds from `start` of every input, re-encoded (sample-accurate)',
    params: {
      fields: {
        ...TRIM_FIELDS,
        format: format(AUDIO_FORMATS, 'the container (default: the input’s, by its extension, else wav)'),
      },
    },
    inputs: { min: 1, max: 32, doc: 'audio files' },
    outputs: '`<input stem>.<format>` per input',
    compare: { kind: 'snr', minDb: LOSSY_AUDIO_MIN_SNR_DB },
  },
];
