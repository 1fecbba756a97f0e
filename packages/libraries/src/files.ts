// The files of each library's npm package that a tab fetches (its WASM builds): the coordinator
// serves exactly these under /v1/libs/<package>/<path> (immutable, CORP), and the page's bundle
// carries their sha256, which the tab checks before using a byte.
import type { LibraryName } from './method.ts';
import { DUCKDB_FILES, PARQUET_FILES } from './runtime/data-files.ts';
import { FFMPEG_FILES } from './runtime/media-files.ts';

export interface LibraryFile {
  /** The npm package. */
  package: string;
  /** The path inside it. */
  path: string;
}

export const LIBRARY_FILES: Readonly<Record<LibraryName, readonly LibraryFile[]>> = {
  image: [
    { package: 'wasm-vips', path: 'lib/vips-es6.js' },
    { package: 'wasm-vips', path: 'lib/vips.wasm' },
  ],
  data: [...DUCKDB_FILES, ...PARQUET_FILES],
  crypto: [],
  audio: FFMPEG_FILES,
  video: FFMPEG_FILES,
  // onnxruntime-web's build with its WebGPU execution provider (it runs the WASM one too).
  ml: [{ package: 'onnxruntime-web', path: 'dist/ort-wasm-simd-threaded.asyncify.wasm' }],
};

/** Every file, once (audio and video share FFmpeg's). */
export function allLibraryFiles(): LibraryFile[] {
  const seen = new Map<string, LibraryFile>();
  for (const files of Object.values(LIBRARY_FILES))
    for (const f of files) seen.set(`${f.package}/${f.path}`, f);
  return [...seen.values()];
}

/**
 * What the page's bundle knows of the files (built from the installed packages by the vite plugin in
 * `@flock/libraries/node`): per package its version and each file's sha256 (hex) and size.
 */
export type LibraryManifest = Readonly<
  Record<string, { version: string; files: Readonly<Record<string, { sha256: string; bytes: number }>> }>
>;

/** The coordinator's URL path of a file: versioned, so it can be cached as immutable. */
export function libraryFilePath(pkg: string, version: string, path: string): string {
  return `/v1/libs/${pkg}@${version}/${path}`;
}
