// audio.* on FFmpeg's WASM core (@ffmpeg/core 0.12.10, single-threaded, run in Node through the
// tab's runtime: the same glue and WASM, see packages/libraries/test/support/media-fixtures.ts)
// against Debian's ffmpeg 5.1 on one thread, measured in the same run: 60 s of generated 44.1 kHz
// stereo WAV transcoded to Opus (the best lossy codec the core has) and MP3. Native runs twice:
// with the reference's argv (`-cpuflags 0`: FFmpeg's C code, as the WASM build is) and with its
// SIMD (the same argv without `-cpuflags 0`), the fair baseline. Also the core's cold load (files
// read, glue imported, WASM compiled, first instance) and the bytes of both cores' files.
//
//   npx tsx bench/libraries/media.ts [--runs N (3)] [--seconds S (60)]
//   npx tsx bench/libraries/media.ts --tolerance   (measures the lossy codecs' compare tolerance)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLibraryCall, LibraryError } from '../../packages/libraries/src/index.ts';
import { runReference } from '../../packages/libraries/src/reference/index.ts';
import { FFMPEG } from '../../packages/libraries/src/reference/media.ts';
import { maxSampleDiff, sampleSnrDb } from '../../packages/libraries/src/reference/media-compare.ts';
import { LibraryHost, type LibraryInput } from '../../packages/libraries/src/runtime/index.ts';
import { MediaRuntime } from '../../packages/libraries/src/runtime/media.ts';
import { planMedia } from '../../packages/libraries/src/runtime/media-args.ts';
import { FFMPEG_FILES } from '../../packages/libraries/src/runtime/media-files.ts';
import {
  ffmpegDir,
  generate,
  input,
  mediaContext,
} from '../../packages/libraries/test/support/media-fixtures.ts';
import { ensureDebianPackages } from '../prerequisites.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const SOURCES: Record<string, (seconds: number) => string> = {
  mix: (s) =>
    `aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*(200+50*t)*t)|0.3*sin(2*PI*660*t)+0.1*sin(2*PI*3000*t):s=44100:d=${s}`,
  sine: (s) => `sine=f=1000:d=${s}:sample_rate=44100`,
  chirp: (s) => `aevalsrc=0.8*sin(2*PI*(100+2000*t)*t):s=44100:d=${s}`,
  pink: (s) => `anoisesrc=c=pink:a=0.5:d=${s}:r=44100:seed=7`,
  white: (s) => `anoisesrc=c=white:a=0.5:d=${s}:r=44100:seed=7`,
  loud: (s) => `anoisesrc=c=white:a=1:d=${s}:r=44100:seed=7`,
};

/** `seconds` of 44.1 kHz 16-bit WAV from one of SOURCES, with `channels` channels. */
function signal(seconds: number, kind = 'mix', channels = 2): LibraryInput {
  const name = `${kind}-${seconds}s-${channels}ch.wav`;
  const bytes = generate(name, ['-f', 'lavfi', '-i', SOURCES[kind]!(seconds), '-ac', String(channels)]);
  return input(name, bytes, 'audio/wav');
}

/** Debian's ffmpeg running `argv` in a directory holding the input; milliseconds of wall time. */
function native(wav: LibraryInput, argv: readonly string[], inputFile: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'flock-media-bench-'));
  try {
    writeFileSync(join(dir, inputFile), wav.bytes);
    const t0 = performance.now();
    const run = spawnSync(FFMPEG, argv, { cwd: dir });
    const ms = performance.now() - t0;
    if (run.status !== 0) throw new Error(`ffmpeg failed: ${run.stderr.toString().slice(-500)}`);
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The reference's argv for `params`, and the same with FFmpeg's SIMD (no `-cpuflags 0`). */
function argvs(params: object): { inputFile: string; c: string[]; simd: string[] } {
  const plan = planMedia(checkLibraryCall('audio.transcode', params, 1), 0, 'in.wav', 1 << 30);
  const c = plan.encode();
  const at = c.indexOf('-cpuflags');
  return { inputFile: plan.inputFile, c, simd: [...c.slice(0, at), ...c.slice(at + 2)] };
}

async function speed(): Promise<void> {
  const runs = option('--runs', 3);
  const seconds = option('--seconds', 60);
  const wav = signal(seconds);
  const bytes = (pkg: string) =>
    FFMPEG_FILES.filter((f) => f.package === pkg).reduce(
      (n, f) => n + statSync(join(ffmpegDir(pkg), f.path)).size,
      0,
    );
  console.log(
    `FFmpeg files: @ffmpeg/core ${bytes('@ffmpeg/core')} bytes, @ffmpeg/core-mt ${bytes('@ffmpeg/core-mt')} bytes`,
  );

  // V8 compiles WASM lazily (Liftoff first, TurboFan for hot code): the first job pays for some.
  const loads: number[] = [];
  const firsts: number[] = [];
  const warms: number[] = [];
  const short = signal(1);
  for (let i = 0; i < runs; i++) {
    const runtime = new MediaRuntime();
    const host = new LibraryHost({ audio: async () => runtime });
    const t0 = performance.now();
    await runtime.load(mediaContext('audio'));
    const t1 = performance.now();
    await host.run('audio.transcode', { format: 'opus' }, [short], mediaContext('audio'));
    const t2 = performance.now();
    await host.run('audio.transcode', { format: 'opus' }, [short], mediaContext('audio'));
    loads.push(t1 - t0);
    firsts.push(t2 - t1);
    warms.push(performance.now() - t2);
  }
  // The process's first load is the cold one; V8 reuses its compiled code for the same bytes later.
  console.log(
    `cold load (single-threaded core, Node ${process.version}): load ${loads[0]!.toFixed(0)} ms, ` +
      `then 1 s WAV -> opus ${firsts[0]!.toFixed(0)} ms (first job), ${warms[0]!.toFixed(0)} ms (second job); ` +
      `later loads (V8's code cache): ${median(loads.slice(1)).toFixed(0)} ms`,
  );

  const host = new LibraryHost({ audio: async () => new MediaRuntime() });
  for (const params of [
    { format: 'opus', bitrate_kbps: 128 },
    { format: 'mp3', bitrate_kbps: 192 },
  ]) {
    const wasm: number[] = [];
    const c: number[] = [];
    const simd: number[] = [];
    const argv = argvs(params);
    let outBytes = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const result = await host.run('audio.transcode', params, [wav], mediaContext('audio'));
      wasm.push(performance.now() - t0);
      outBytes = result.outputs[0]!.bytes.byteLength;
      c.push(native(wav, argv.c, argv.inputFile));
      simd.push(native(wav, argv.simd, argv.inputFile));
    }
    const [w, n, s] = [median(wasm), median(c), median(simd)];
    console.log(
      `${seconds} s 44.1 kHz stereo WAV -> ${params.format} ${params.bitrate_kbps}k: WASM ${w.toFixed(0)} ms, ` +
        `native -threads 1 ${s.toFixed(0)} ms (ratio ${(w / s).toFixed(2)}), ` +
        `native -cpuflags 0 ${n.toFixed(0)} ms (ratio ${(w / n).toFixed(2)}); medians of ${runs}; output ${outBytes} bytes`,
    );
  }
}

/** The largest decoded difference between the WASM core's and the reference's output, per codec. */
async function tolerance(): Promise<void> {
  const host = new LibraryHost({ audio: async () => new MediaRuntime() });
  const matrix: [string, object, number[]][] = [
    ['mp3', { format: 'mp3' }, [8, 128, 320]],
    ['aac', { format: 'm4a', codec: 'aac' }, [16, 128, 512]],
    ['vorbis', { format: 'ogg', codec: 'vorbis' }, [32, 128, 500]],
    ['opus', { format: 'opus' }, [6, 96, 510]],
  ];
  for (const [codec, base, bitrates] of matrix) {
    let worst = 0;
    let worstSnr = Number.POSITIVE_INFINITY;
    const refused: string[] = [];
    for (const kind of Object.keys(SOURCES))
      for (const channels of [1, 2])
        for (const bitrate_kbps of bitrates) {
          const params = { ...base, bitrate_kbps };
          const wav = signal(2, kind, channels);
          const tab = await host.run('audio.transcode', params, [wav], mediaContext('audio')).catch((err) => {
            // libvorbis takes only some bitrates for a given rate and channel count.
            if (err instanceof LibraryError && err.code === 'INVALID_PARAMS') return undefined;
            throw err;
          });
          if (!tab) {
            refused.push(`${kind}/${channels}ch/${bitrate_kbps}k`);
            continue;
          }
          const ref = await runReference('audio.transcode', params, [wav]);
          const diff = maxSampleDiff(tab.outputs[0]!.bytes, ref.outputs[0]!.bytes);
          const snr = sampleSnrDb(tab.outputs[0]!.bytes, ref.outputs[0]!.bytes);
          if (args.includes('--verbose'))
            console.log(
              `  ${codec} ${kind} ${channels}ch ${bitrate_kbps}k: max diff ${diff.toPrecision(3)}, SNR ${snr.toFixed(1)} dB`,
            );
          worst = Math.max(worst, diff);
          worstSnr = Math.min(worstSnr, snr);
        }
    console.log(
      `${codec}: max |WASM - native| ${worst.toPrecision(3)} of full scale, lowest SNR ${worstSnr.toFixed(1)} dB (${Object.keys(SOURCES).length} signals, mono and stereo, ${bitrates.join('/')} kbit/s)` +
        (refused.length > 0 ? `; the encoder refused ${refused.join(', ')} (INVALID_PARAMS)` : ''),
    );
  }
}

ensureDebianPackages(['ffmpeg']);
console.log(`media bench, ${new Date().toISOString()}`);
await (args.includes('--tolerance') ? tolerance() : speed());
