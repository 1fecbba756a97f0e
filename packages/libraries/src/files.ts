// The files of each library's npm package that a tab fetches (its WASM builds): the coordinator
// serves exactly these under /v1/libs/<package>/<path> (immutable, CORP), and the page's bundle
// carries their sha256, which the tab checks before using a byte.
import type { LibraryName } from './method.ts';

export interface LibraryFile {
  /** The npm package. */
  package: string;
  /** The path inside it. */
  path: string;
}

export const LIBRARY_FILES: Readonly<Record<LibraryName, readonly LibraryFile[]>> = {
  image: [],
  data: [],
  crypto: [],
  audio: [],
  video: [],
};

/** Every file, once (audio and video share FFmpeg's). */
export function allLibraryFiles(): LibraryFile[] {
  const seen = new Map<string, LibraryFile>();
  for (const files of Object.values(LIBRARY_FILES)) for (const f of files) seen.set(`${f.package}/${f.path}`, f);
  return [...seen.values()];
}
