// The files of FFmpeg's WASM cores that the media runtime fetches (LIBRARY_FILES.audio and .video
// list them), with what the runtime must know of each build.
import type { LibraryFile } from '../files.ts';

export interface CoreBuild {
  readonly package: string;
  readonly glue: string;
  readonly wasm: string;
  /** The pthread worker script (multi-threaded core only). */
  readonly worker?: string;
  /** The minified names of stackSave and stackRestore among this build's WASM exports. */
  readonly stackSave: string;
  readonly stackRestore: string;
}

export const CORE_BUILDS = {
  /** @ffmpeg/core: single-threaded, runs anywhere. */
  single: {
    package: '@ffmpeg/core',
    glue: 'dist/esm/ffmpeg-core.js',
    wasm: 'dist/esm/ffmpeg-core.wasm',
    stackSave: 'Da',
    stackRestore: 'Ea',
  },
  /** @ffmpeg/core-mt: pthreads, for cross-origin-isolated tabs (SharedArrayBuffer, nested Workers). */
  threads: {
    package: '@ffmpeg/core-mt',
    glue: 'dist/esm/ffmpeg-core.js',
    wasm: 'dist/esm/ffmpeg-core.wasm',
    worker: 'dist/esm/ffmpeg-core.worker.js',
    stackSave: '_a',
    stackRestore: '$a',
  },
} as const satisfies Record<string, CoreBuild>;
export type CoreVariant = keyof typeof CORE_BUILDS;

/** Every file of both cores (a tab fetches one core's). */
export const FFMPEG_FILES: readonly LibraryFile[] = Object.values(CORE_BUILDS).flatMap((build: CoreBuild) =>
  [build.glue, build.wasm, ...(build.worker === undefined ? [] : [build.worker])].map((path) => ({
    package: build.package,
    path,
  })),
);
