// audio.* and video.*: the tab's runtime (FFmpeg's single-threaded WASM core, run in Node through
// LibraryHost; see support/media-fixtures.ts) against the reference (Debian's ffmpeg 5.1), each
// output judged under its method's compare rule, plus hostile inputs, stops and limits.
import { describe, expect, it } from 'vitest';
import { checkLibraryCall, getMethod, LibraryError } from '../src/index.ts';
import { outputsAgree, runReference } from '../src/reference/index.ts';
import { decodeFrames, decodePcm, mediaDistance, sampleSnrDb } from '../src/reference/media-compare.ts';
import { LibraryHost, type LibraryInput, type LibraryResult, RUNTIMES } from '../src/runtime/index.ts';
import { MediaRuntime } from '../src/runtime/media.ts';
import { DEMUXERS, planMedia } from '../src/runtime/media-args.ts';
import { generate, input, mediaContext, stereoWav, testMp4 } from './support/media-fixtures.ts';

const host = new LibraryHost(RUNTIMES);
const wav = () => input('tone.wav', stereoWav(1), 'audio/wav');
const mp4 = () => input('clip.mp4', testMp4(), 'video/mp4');

async function both(
  op: string,
  params: unknown,
  inputs: LibraryInput[],
): Promise<[LibraryResult, LibraryResult]> {
  const library = op.startsWith('audio') ? 'audio' : 'video';
  const tab = await host.run(op, params, inputs, mediaContext(library));
  return [tab, await runReference(op, params, inputs)];
}

/** The largest distance between the tab's and the reference's outputs, after checking their names. */
function distance(op: string, tab: LibraryResult, reference: LibraryResult): number {
  const declared = getMethod(op).compare;
  // Lossy methods are judged by SNR; where their output is lossless, the largest difference is 0.
  const rule = declared.kind === 'snr' ? ({ kind: 'samples', maxDiff: 0 } as const) : declared;
  expect(tab.outputs.map((o) => o.name)).toEqual(reference.outputs.map((o) => o.name));
  return Math.max(...tab.outputs.map((o, i) => mediaDistance(rule, o.bytes, reference.outputs[i]!.bytes)));
}

async function failure(
  run: Promise<unknown>,
): Promise<{ code: string; field: string | undefined; message: string }> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof LibraryError)) throw new Error(`expected a LibraryError, got ${String(err)}`);
  return { code: err.code, field: err.field, message: err.message };
}

describe('audio', () => {
  it('loads the single-threaded core cold, then runs a second job warm without fetching', async () => {
    const runtime = new MediaRuntime();
    const cold = new LibraryHost({ audio: async () => runtime });
    const ctx = mediaContext('audio');
    const first = await cold.run('audio.transcode', { format: 'flac' }, [wav()], ctx);
    expect(ctx.fetched).toEqual([
      '@ffmpeg/core/dist/esm/ffmpeg-core.js',
      '@ffmpeg/core/dist/esm/ffmpeg-core.wasm',
    ]);
    expect(await runtime.core()).toEqual({ variant: 'single', bytes: 111_804 + 32_232_419 });
    const warm = mediaContext('audio');
    const second = await cold.run('audio.transcode', { format: 'flac' }, [wav()], warm);
    expect(warm.fetched).toEqual([]);
    expect(second.outputs[0]!.bytes).toEqual(first.outputs[0]!.bytes);
    expect(ctx.reports.at(-1)).toBe(100);
  });

  it.each([
    ['mp3', {}, Number.POSITIVE_INFINITY],
    ['m4a', { codec: 'aac', bitrate_kbps: 96 }, 40],
    ['m4a', { codec: 'alac' }, Number.POSITIVE_INFINITY],
    ['flac', {}, Number.POSITIVE_INFINITY],
    ['wav', { codec: 'pcm_s24le', channels: 1 }, Number.POSITIVE_INFINITY],
    ['ogg', { codec: 'vorbis', bitrate_kbps: 64 }, 25],
    ['opus', { bitrate_kbps: 48, sample_rate: 48000 }, 25],
  ])('transcodes to %s %j like the reference (SNR at least %d dB)', async (format, extra, minDb) => {
    const params = { format, ...extra };
    const [tab, reference] = await both('audio.transcode', params, [wav()]);
    expect(tab.outputs[0]!.name).toBe(`tone.${format}`);
    expect(sampleSnrDb(tab.outputs[0]!.bytes, reference.outputs[0]!.bytes)).toBeGreaterThanOrEqual(minDb);
    expect(await outputsAgree('audio.transcode', tab.outputs, reference.outputs)).toBe(true);
  });

  it('resamples to 22.05 kHz sample-exactly', async () => {
    const [tab, reference] = await both('audio.resample', { sample_rate: 22050 }, [wav()]);
    expect(distance('audio.resample', tab, reference)).toBe(0);
    const pcm = decodePcm(tab.outputs[0]!.bytes);
    expect([pcm.sampleRate, pcm.channels, pcm.samples.length]).toEqual([22050, 2, 2 * 22050]);
  });

  it('normalizes loudness in two passes, reporting what it measured', async () => {
    const [tab, reference] = await both('audio.normalize', { integrated_lufs: -16, format: 'flac' }, [wav()]);
    expect(distance('audio.normalize', tab, reference)).toBe(0);
    expect(tab.summary).toEqual(reference.summary);
    expect(tab.summary?.['tone.wav']).toMatch(
      /^input -\d+\.\d+ LUFS, true peak -?\d+\.\d+ dBTP, LRA \d+\.\d+ LU$/,
    );
    expect(decodePcm(tab.outputs[0]!.bytes).sampleRate).toBe(44100);
  });

  it('trims sample-accurately, keeping the input’s format', async () => {
    const [tab, reference] = await both('audio.trim', { start: 0.25, duration: 0.5 }, [wav()]);
    expect(tab.outputs.map((o) => o.name)).toEqual(['tone.wav']);
    expect(distance('audio.trim', tab, reference)).toBe(0);
    expect(decodePcm(tab.outputs[0]!.bytes).samples.length).toBe(2 * 22050);
  });
});

describe('video', () => {
  it('transcodes to H.264 in MP4, scaled, pixel-exact to the reference', async () => {
    const [tab, reference] = await both('video.transcode', { container: 'mp4', width: 80 }, [mp4()]);
    expect(distance('video.transcode', tab, reference)).toBe(0);
    const frames = decodeFrames(tab.outputs[0]!.bytes);
    expect([tab.outputs[0]!.name, frames.width, frames.height, frames.frames.length]).toEqual([
      'clip.mp4',
      80,
      60,
      10,
    ]);
  });

  it('transcodes to VP9 in WebM at 5 fps without audio, pixel-exact to the reference', async () => {
    const params = { container: 'webm', fps: 5, audio: false, preset: 'ultrafast' };
    const [tab, reference] = await both('video.transcode', params, [mp4()]);
    expect(distance('video.transcode', tab, reference)).toBe(0);
    expect(decodeFrames(tab.outputs[0]!.bytes).frames.length).toBe(5);
    expect(() => decodePcm(tab.outputs[0]!.bytes)).toThrow(/matches no streams/);
  });

  it('transcodes to VP8 in Matroska at a bitrate, pixel-exact to the reference', async () => {
    const params = { container: 'mkv', codec: 'vp8', bitrate_kbps: 300, height: 60 };
    const [tab, reference] = await both('video.transcode', params, [mp4()]);
    expect(distance('video.transcode', tab, reference)).toBe(0);
    expect(decodeFrames(tab.outputs[0]!.bytes)).toMatchObject({ width: 80, height: 60 });
    expect(tab.outputs[0]!.name).toBe('clip.mkv');
  });

  it('trims frame-accurately', async () => {
    const [tab, reference] = await both('video.trim', { start: 0.3, duration: 0.5 }, [mp4()]);
    expect(distance('video.trim', tab, reference)).toBe(0);
    expect(decodeFrames(tab.outputs[0]!.bytes).frames.length).toBe(5);
  });

  it('extracts numbered PNG and JPEG frames named after the input', async () => {
    const [png, pngRef] = await both('video.extract_frames', { fps: 2, count: 3 }, [mp4()]);
    expect(png.outputs.map((o) => o.name)).toEqual(['clip_0001.png', 'clip_0002.png']);
    expect(distance('video.extract_frames', png, pngRef)).toBe(0);
    const params = { every_seconds: 0.5, start: 0.2, count: 1, format: 'jpeg', width: 64 };
    const [jpeg, jpegRef] = await both('video.extract_frames', params, [mp4()]);
    expect(jpeg.outputs.map((o) => [o.name, o.contentType])).toEqual([['clip_0001.jpg', 'image/jpeg']]);
    expect(distance('video.extract_frames', jpeg, jpegRef)).toBe(0);
    expect(decodeFrames(jpeg.outputs[0]!.bytes)).toMatchObject({ width: 64, height: 48 });
  });
});

describe('hostile inputs and limits', () => {
  const playlist = (target: string) =>
    new TextEncoder().encode(`#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n${target}\n#EXT-X-ENDLIST\n`);

  it.each([
    ['list.m3u8', playlist('/etc/passwd')],
    ['list.m3u8', playlist('http://127.0.0.1:9/x.ts')],
    ['list.ffconcat', new TextEncoder().encode("ffconcat version 1.0\nfile '/etc/passwd'\n")],
  ])('refuses %s reaching outside its input as FORBIDDEN, then serves the next job', async (name, bytes) => {
    const tab = await failure(
      host.run('audio.transcode', { format: 'wav' }, [input(name, bytes)], mediaContext('audio')),
    );
    const reference = await failure(runReference('audio.transcode', { format: 'wav' }, [input(name, bytes)]));
    for (const err of [tab, reference]) expect([err.code, err.field]).toEqual(['FORBIDDEN', 'inputs[0]']);
    const next = await host.run('audio.transcode', { format: 'flac' }, [wav()], mediaContext('audio'));
    expect(next.outputs.map((o) => o.name)).toEqual(['tone.flac']);
  });

  it('refuses bytes that are not media, and a truncated MP4, as INVALID_INPUT', async () => {
    const text = input('notes.wav', new TextEncoder().encode('not audio at all\n'.repeat(64)));
    const cut = input('cut.mp4', testMp4().subarray(0, 2000));
    expect(await failure(host.run('audio.trim', {}, [wav(), text], mediaContext('audio')))).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'inputs[1]',
    });
    expect(
      await failure(host.run('video.transcode', { container: 'mp4' }, [cut], mediaContext('video'))),
    ).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'inputs[0]',
    });
    expect(await failure(runReference('video.transcode', { container: 'mp4' }, [cut]))).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'inputs[0]',
    });
    const next = await host.run('video.extract_frames', { count: 1 }, [mp4()], mediaContext('video'));
    expect(next.outputs.map((o) => o.name)).toEqual(['clip_0001.png']);
  });

  it('refuses pictures over 4096×4096 before decoding them (PIXEL_LIMIT), and video.* on audio', async () => {
    const big = generate('big.mkv', [
      ...['-f', 'lavfi', '-i', 'color=c=blue:s=4200x4200:r=1:d=1', '-frames:v', '1'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast'],
    ]);
    const frames = { count: 1 };
    for (const run of [
      () => host.run('video.extract_frames', frames, [input('big.mkv', big)], mediaContext('video')),
      () => runReference('video.extract_frames', frames, [input('big.mkv', big)]),
    ])
      expect(await failure(run())).toMatchObject({ code: 'PIXEL_LIMIT', field: 'inputs[0]' });
    expect(await failure(host.run('video.trim', {}, [wav()], mediaContext('video')))).toEqual({
      code: 'INVALID_INPUT',
      field: 'inputs[0]',
      message: 'inputs[0] has no video stream',
    });
  });

  it('never lets a file name reach FFmpeg or name an output outside its folder', async () => {
    const names = ['-i /etc/passwd', '../../x.wav', '.hidden', 'a\\b:c?.flac'];
    const result = await host.run(
      'audio.transcode',
      { format: 'wav' },
      names.map((n) => input(n, stereoWav(1))),
      mediaContext('audio'),
    );
    expect(result.outputs.map((o) => o.name)).toEqual(['passwd.wav', 'x.wav', 'hidden.wav', 'b_c_.wav']);
  });

  it('builds argv from fixed sandbox names and allow-listed options only', () => {
    const call = checkLibraryCall('audio.transcode', { format: 'ogg', codec: 'opus', bitrate_kbps: 64 }, 1);
    const plan = planMedia(call, 0, '-i /etc/passwd.m3u8', 1000);
    expect(plan.inputFile).toBe('input_0.bin');
    expect(plan.encode()).toEqual([
      ...['-hide_banner', '-nostdin', '-y', '-cpuflags', '0', '-filter_threads', '1', '-xerror'],
      ...['-protocol_whitelist', 'file', '-format_whitelist', DEMUXERS, '-max_pixels', String(4096 * 4096)],
      ...['-i', 'input_0.bin', '-map', '0:a:0', '-c:a', 'libopus', '-b:a', '64k'],
      ...['-map_metadata', '-1', '-map_chapters', '-1', '-threads', '1', '-fflags', '+bitexact'],
      ...['-flags', '+bitexact', '-fs', '1001', '-f', 'ogg', 'output.ogg'],
    ]);
    expect(planMedia(call, 3, 'song.FLAC', 1000).inputFile).toBe('input_3.flac');
  });

  it('refuses params outside the allow-list at the gate', async () => {
    const cases: [string, unknown][] = [
      ['audio.transcode', { format: 'mp3', codec: 'opus' }],
      ['audio.transcode', { format: 'flac', bitrate_kbps: 128 }],
      ['audio.transcode', { format: 'wav', codec: 'pcm_s16le -i /etc/passwd' }],
      ['video.transcode', { container: 'mp4', width: 81 }],
      ['video.transcode', { container: 'webm', crf: 30, bitrate_kbps: 500 }],
      ['video.extract_frames', { fps: 1, every_seconds: 2 }],
    ];
    const fields = [];
    for (const [op, params] of cases) {
      const library = op.startsWith('audio') ? 'audio' : 'video';
      const err = await failure(host.run(op, params, [wav()], mediaContext(library)));
      expect(err.code).toBe('INVALID_PARAMS');
      fields.push(err.field);
    }
    expect(fields).toEqual([
      'params.codec',
      'params.bitrate_kbps',
      'params.codec',
      'params.width',
      'params.crf',
      'params.fps',
    ]);
  });

  it('stops when asked, at its time limit and at its output limit, then serves the next job', async () => {
    const stopped = mediaContext('audio');
    stopped.stop('cancelled');
    const tooSlow = mediaContext('video', { timeoutMs: 1 });
    const tooBig = mediaContext('audio', { maxOutputBytes: 50_000 });
    const errors = [
      await failure(host.run('audio.transcode', { format: 'wav' }, [wav()], stopped)),
      await failure(host.run('video.transcode', { container: 'webm', codec: 'vp9' }, [mp4()], tooSlow)),
      await failure(host.run('audio.transcode', { format: 'wav' }, [wav()], tooBig)),
    ];
    expect(errors.map((e) => e.code)).toEqual(['LIBRARY_ERROR', 'LIBRARY_ERROR', 'OUTPUT_TOO_LARGE']);
    expect(errors[0]!.message).toBe('stopped (cancelled)');
    expect(errors[1]!.message).toMatch(/1 ms limit/);
    const next = await host.run('audio.transcode', { format: 'wav' }, [wav()], mediaContext('audio'));
    // A bare 44-byte header (-bitexact: no LIST chunk) and one second of 16-bit stereo.
    expect(next.outputs[0]!.bytes.byteLength).toBe(44 + 44100 * 4);
  });
});
