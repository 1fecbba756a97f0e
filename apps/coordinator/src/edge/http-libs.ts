// `GET /v1/libs/<package>@<version>/<path>`: the files of the libraries' WASM builds (the npm
// packages installed beside the coordinator), for volunteer tabs, which hold no API key. Only the
// files @flock/libraries lists are served, each at its installed version: the URL names the
// version, so it is cached as immutable, and the page checks every byte against its manifest.
import { createReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { type PackageFile, packageFiles } from '@flock/libraries/node';
import { CoordinatorError } from '../errors.ts';

const TYPES: Record<string, string> = {
  wasm: 'application/wasm',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  cjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
};

let byPath: Map<string, PackageFile> | undefined;

/** The served files by URL path (hashed on first use). */
function files(): Map<string, PackageFile> {
  byPath ??= new Map(packageFiles().map((f) => [f.urlPath, f]));
  return byPath;
}

/** Serves `path` (`/v1/libs/...`) when it is a library file; 404 otherwise. */
export function getLibraryFile(res: ServerResponse, path: string, head: boolean): void {
  const file = files().get(path);
  if (!file) throw new CoordinatorError('NOT_FOUND', `no library file ${path}`);
  res.writeHead(200, {
    'Content-Type': TYPES[file.path.slice(file.path.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
    'Content-Length': file.bytes,
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: `"sha256:${file.sha256}"`,
    // Public and versioned: pages on allowed origins may embed it, as they may modules.
    'Cross-Origin-Resource-Policy': 'cross-origin',
  });
  if (head) {
    res.end();
    return;
  }
  createReadStream(file.file)
    .on('error', (err) => res.destroy(err))
    .pipe(res);
}
