// The one place a media call becomes FFmpeg's command line, shared by the tab (the WASM core) and
// the reference (Debian's ffmpeg). Pure: the argv is built from the method's enums and range-checked
// numbers only, and the input is always `input_<i>.<allow-listed extension>`: a caller's file name
// never reaches FFmpeg. Every input is opened with `-protocol_whitelist file` and a demuxer
// allow-list (no hls, concat, image2 or lavfi: a playlist cannot name another file or URL), and
// decoders refuse pictures over MAX_PIXELS.
import { LibraryError } from '../library-error.ts';
import { AUDIO_FORMATS, type AudioCodec, type AudioFormat, audioCodecOf } from '../methods/audio.ts';
import {
  VIDEO_CONTAINERS,
  VIDEO_DEFAULT_CRF,
  type VideoCodec,
  type VideoContainer,
  type VideoPreset,
  videoCodecOf,
} from '../methods/video.ts';
import type { Params } from '../params.ts';
import type { CheckedCall } from '../registry.ts';
import { loudnormFilter, parseLoudnorm } from './media-loudnorm.ts';

/** Extensions an input keeps in the sandbox (others become `.bin`; FFmpeg probes the bytes anyway). */
// biome-ignore format: a table
const INPUT_EXTENSIONS = new Set([
  'wav', 'mp3', 'ogg', 'oga', 'opus', 'flac', 'm4a', 'aac', 'aiff', 'aif', 'caf', 'w64',
  'mp4', 'mov', 'm4v', 'webm', 'mkv', 'mka', 'avi', 'ts', 'flv', 'ogv', 'mpg', 'mpeg',
]);

/** The demuxers an input may be read with (FFmpeg matches any name of a demuxer's list). */
export const DEMUXERS = 'wav,mp3,ogg,flac,mov,matroska,aac,aiff,w64,caf,avi,mpegts,flv,mpeg';

/** Decoders refuse larger pictures (FFmpeg's max_pixels): 4096×4096. */
export const MAX_PIXELS = 4096 * 4096;

/**
 * Options every run starts with. `-cpuflags 0` keeps Debian's ffmpeg on FFmpeg's C code, as the
 * WASM build is (built --disable-asm, so there it changes nothing): that is what makes the
 * reference's output sample- and pixel-exact to the tab's. Filters and encoders run on one thread,
 * which keeps outputs the same whichever core (single- or multi-threaded) made them.
 */
const GLOBAL = ['-hide_banner', '-nostdin', '-y', '-cpuflags', '0', '-filter_threads', '1', '-xerror'];

const AUDIO_ENCODERS: Readonly<Record<AudioCodec, string>> = {
  mp3: 'libmp3lame',
  vorbis: 'libvorbis',
  opus: 'libopus',
  aac: 'aac',
  alac: 'alac',
  flac: 'flac',
  pcm_s16le: 'pcm_s16le',
  pcm_s24le: 'pcm_s24le',
  pcm_f32le: 'pcm_f32le',
};
const AUDIO_MUXERS: Readonly<Record<AudioFormat, string>> = {
  mp3: 'mp3',
  ogg: 'ogg',
  opus: 'opus',
  wav: 'wav',
  flac: 'flac',
  m4a: 'mp4',
};
const AUDIO_TYPES: Readonly<Record<AudioFormat, string>> = {
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
};
const VIDEO_MUXERS: Readonly<Record<VideoContainer, string>> = { mp4: 'mp4', webm: 'webm', mkv: 'matroska' };
const VIDEO_TYPES: Readonly<Record<VideoContainer, string>> = {
  mp4: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
};
/** libvpx's cpu-used for each x264 preset name (deadline good: 0 is slowest). */
const VPX_CPU_USED: Readonly<Record<VideoPreset, number>> = {
  ultrafast: 5,
  superfast: 5,
  veryfast: 4,
  faster: 3,
  fast: 2,
  medium: 1,
  slow: 0,
};

/** Where a run's output lands in the sandbox: one file, or a numbered sequence (`frame_0001.png`). */
export interface MediaOutput {
  readonly file: string;
  readonly ext: string;
  readonly contentType: string;
  readonly sequence: boolean;
}

export interface MediaPlan {
  /** The input's name in the sandbox. */
  readonly inputFile: string;
  /** A measuring pass to run first (audio.normalize); its log goes to `encode`. */
  readonly measure?: readonly string[];
  /** The argv of the run that writes the output. */
  encode(measureLog?: string): string[];
  readonly output: MediaOutput;
}

/** A number as FFmpeg reads it: plain decimals, at most six of them, never an exponent. */
export const num = (x: number): string => String(Number(x.toFixed(6)));

/** The sandbox name of input `index`: its extension kept only when allow-listed. */
export function inputFileName(index: number, name: string): string {
  const ext = extensionOf(name);
  return `input_${index}.${ext !== undefined && INPUT_EXTENSIONS.has(ext) ? ext : 'bin'}`;
}

/** The lower-case extension of a file name, if it has one. */
export function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= name.lastIndexOf('/') + 1) return undefined;
  return name.slice(dot + 1).toLowerCase();
}

function inputArgs(file: string, start: number | undefined): string[] {
  const seek = start !== undefined && start > 0 ? ['-ss', num(start)] : [];
  return [
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    DEMUXERS,
    '-max_pixels',
    String(MAX_PIXELS),
    ...seek,
    '-i',
    file,
  ];
}

/** Output options: no metadata copied, no version strings, one encoder thread, a size cap. */
function outputArgs(budget: number | undefined, muxer: string, file: string): string[] {
  // FFmpeg stops once a file reaches -fs: one byte over the budget tells a cut file from one that fits.
  const cap = budget === undefined ? [] : ['-fs', String(budget + 1)];
  return [
    '-map_metadata',
    '-1',
    '-map_chapters',
    '-1',
    '-threads',
    '1',
    '-fflags',
    '+bitexact',
    '-flags',
    '+bitexact',
    ...cap,
    '-f',
    muxer,
    file,
  ];
}

function audioEncoding(codec: AudioCodec, p: Params): string[] {
  const args = ['-c:a', AUDIO_ENCODERS[codec]];
  if (p['bitrate_kbps'] !== undefined) args.push('-b:a', `${p['bitrate_kbps'] as number}k`);
  if (p['sample_rate'] !== undefined) args.push('-ar', String(p['sample_rate'] as number));
  if (p['channels'] !== undefined) args.push('-ac', String(p['channels'] as number));
  return args;
}

function videoEncoding(codec: VideoCodec, p: Params): string[] {
  const preset = (p['preset'] as VideoPreset | undefined) ?? 'veryfast';
  const bitrate = p['bitrate_kbps'] as number | undefined;
  const crf =
    (p['crf'] as number | undefined) ?? (bitrate === undefined ? VIDEO_DEFAULT_CRF[codec] : undefined);
  const rate = bitrate !== undefined ? ['-b:v', `${bitrate}k`] : ['-crf', String(crf)];
  switch (codec) {
    case 'h264':
      // asm=0: x264's C code on the reference too (its assembly rounds differently from its C).
      return ['-c:v', 'libx264', '-preset', preset, '-x264-params', 'asm=0', ...rate, '-pix_fmt', 'yuv420p'];
    case 'vp8':
    case 'vp9': {
      // VP8's constant quality needs a ceiling; VP9's is unconstrained with -b:v 0.
      const ceiling = bitrate !== undefined ? [] : ['-b:v', codec === 'vp8' ? '10M' : '0'];
      return [
        '-c:v',
        codec === 'vp8' ? 'libvpx' : 'libvpx-vp9',
        '-deadline',
        'good',
        '-cpu-used',
        String(VPX_CPU_USED[preset]),
        ...rate,
        ...ceiling,
        '-pix_fmt',
        'yuv420p',
      ];
    }
  }
}

function videoFilters(p: Params): string[] {
  const filters: string[] = [];
  const fps = p['fps'] as number | undefined;
  if (fps !== undefined) filters.push(`fps=fps=${num(fps)}`);
  const width = p['width'] as number | undefined;
  const height = p['height'] as number | undefined;
  if (width !== undefined || height !== undefined) filters.push(`scale=w=${width ?? -2}:h=${height ?? -2}`);
  return filters.length > 0 ? ['-vf', filters.join(',')] : [];
}

/** The output format a trim keeps: params', else the input's (by extension) when it is one, else `fallback`. */
function keptFormat<T extends string>(given: unknown, name: string, formats: readonly T[], fallback: T): T {
  if (given !== undefined) return given as T;
  const ext = extensionOf(name);
  return formats.find((f) => f === ext) ?? fallback;
}

function audioOutput(format: AudioFormat): MediaOutput {
  return { file: `output.${format}`, ext: format, contentType: AUDIO_TYPES[format], sequence: false };
}

function trimWindow(p: Params): string[] {
  return p['duration'] !== undefined ? ['-t', num(p['duration'] as number)] : [];
}

function planAudio(call: CheckedCall, inputFile: string, name: string, budget: number): MediaPlan {
  const p = call.params;
  const method = call.method.method;
  const format =
    method === 'trim' ? keptFormat(p['format'], name, AUDIO_FORMATS, 'wav') : (p['format'] as AudioFormat);
  const output = audioOutput(format);
  const codec = audioCodecOf(p, format);
  const start = method === 'trim' ? (p['start'] as number) : undefined;
  const head = [...GLOBAL, ...inputArgs(inputFile, start), '-map', '0:a:0'];
  const tail = outputArgs(budget, AUDIO_MUXERS[format], output.file);
  switch (method) {
    case 'transcode':
    case 'resample':
      return { inputFile, output, encode: () => [...head, ...audioEncoding(codec, p), ...tail] };
    case 'trim':
      return {
        inputFile,
        output,
        encode: () => [...head, ...trimWindow(p), ...audioEncoding(codec, {}), ...tail],
      };
    case 'normalize': {
      const targets = `I=${num(p['integrated_lufs'] as number)}:TP=${num(p['true_peak_dbtp'] as number)}:LRA=${num(p['lra'] as number)}`;
      const linear = p['linear'] !== false;
      const measure = [...head, '-af', loudnormFilter(targets, linear), '-f', 'null', '-'];
      const encode = (log = ''): string[] => {
        const measured = parseLoudnorm(log);
        const rate = (p['sample_rate'] as number | undefined) ?? measured.sampleRate;
        if (rate === undefined)
          throw new LibraryError('LIBRARY_ERROR', 'the measuring pass did not report the sample rate');
        const filter = loudnormFilter(targets, linear, measured);
        return [...head, '-af', filter, ...audioEncoding(codec, { sample_rate: rate }), ...tail];
      };
      return { inputFile, output, measure, encode };
    }
    default:
      throw new LibraryError('UNKNOWN_METHOD', `audio.${method} has no runtime`, 'op');
  }
}

function planVideo(call: CheckedCall, inputFile: string, name: string, budget: number): MediaPlan {
  const p = call.params;
  const method = call.method.method;
  if (method === 'extract_frames') return planFrames(p, inputFile);
  const container =
    method === 'trim'
      ? keptFormat(p['container'], name, VIDEO_CONTAINERS, 'mp4')
      : (p['container'] as VideoContainer);
  const output: MediaOutput = {
    file: `output.${container}`,
    ext: container,
    contentType: VIDEO_TYPES[container],
    sequence: false,
  };
  const encoding = method === 'trim' ? {} : p;
  const codec = videoCodecOf(encoding, container);
  const start = method === 'trim' ? (p['start'] as number) : undefined;
  const audio = (encoding['audio'] as boolean | undefined) ?? true;
  const audioBitrate = `${(encoding['audio_bitrate_kbps'] as number | undefined) ?? 128}k`;
  const audioArgs = audio
    ? ['-map', '0:a:0?', '-c:a', container === 'webm' ? 'libopus' : 'aac', '-b:a', audioBitrate]
    : ['-an'];
  if (method !== 'transcode' && method !== 'trim')
    throw new LibraryError('UNKNOWN_METHOD', `video.${method} has no runtime`, 'op');
  const argv = [
    ...GLOBAL,
    ...inputArgs(inputFile, start),
    '-map',
    '0:v:0',
    ...(method === 'trim' ? trimWindow(p) : videoFilters(p)),
    ...videoEncoding(codec, encoding),
    ...audioArgs,
    '-sn',
    '-dn',
    ...outputArgs(budget, VIDEO_MUXERS[container], output.file),
  ];
  return { inputFile, output, encode: () => argv };
}

function planFrames(p: Params, inputFile: string): MediaPlan {
  const every = p['every_seconds'] as number | undefined;
  const rate = every !== undefined ? `1/${num(every)}` : num((p['fps'] as number | undefined) ?? 1);
  const width = p['width'] as number | undefined;
  const filters = [`fps=fps=${rate}`, ...(width !== undefined ? [`scale=w=${width}:h=-2`] : [])];
  const jpeg = p['format'] === 'jpeg';
  const ext = jpeg ? 'jpg' : 'png';
  const codec = jpeg ? ['-c:v', 'mjpeg', '-q:v', String(p['jpeg_qscale'] as number)] : ['-c:v', 'png'];
  const output: MediaOutput = {
    file: `frame_%04d.${ext}`,
    ext,
    contentType: jpeg ? 'image/jpeg' : 'image/png',
    sequence: true,
  };
  const argv = [
    ...GLOBAL,
    ...inputArgs(inputFile, p['start'] as number),
    '-map',
    '0:v:0',
    '-vf',
    filters.join(','),
    '-frames:v',
    String(p['count'] as number),
    ...codec,
    ...outputArgs(undefined, 'image2', output.file),
  ];
  return { inputFile, output, encode: () => argv };
}

/**
 * How input `index` of a checked call is run: its sandbox name, the argv of each pass and where the
 * output lands. `budget` caps the output file (`-fs`, bytes): what the job's output limit has left.
 */
export function planMedia(call: CheckedCall, index: number, name: string, budget: number): MediaPlan {
  const inputFile = inputFileName(index, name);
  return call.method.library === 'audio'
    ? planAudio(call, inputFile, name, budget)
    : planVideo(call, inputFile, name, budget);
}
