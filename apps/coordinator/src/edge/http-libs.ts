// `GET /v1/libs/<package>@<version>/<path>`: the files of the libraries' WASM builds (the npm
// packages installed beside the coordinator), for volunteer tabs, which hold no API key. Only the
// files @flock/libraries lists are served, each at its installed version: the URL names the
// version, so it is cached as immutable, and the page checks every byte against its manifest.
// WASM builds are large (DuckDB's 33 MiB, FFmpeg's 32 MiB) and shrink to a quarter or a third with
// gzip: a client that accepts it gets the file compressed once, off the event loop, then cached.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
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
const gzipped = new Map<string, Promise<Buffer | undefined>>();
const gzipAsync = promisify(gzip);

/** The served files by URL path (hashed on first use). */
function files(): Map<string, PackageFile> {
  byPath ??= new Map(packageFiles().map((f) => [f.urlPath, f]));
  return byPath;
}

/** The file gzipped (level 9), made once; undefined when it could not be (then sent as is). */
function gzipOf(file: PackageFile): Promise<Buffer | undefined> {
  let made = gzipped.get(file.urlPath);
  if (!made) {
    made = readFile(file.file)
      .then((bytes) => gzipAsync(bytes, { level: 9 }))
      .catch(() => undefined);
    gzipped.set(file.urlPath, made);
  }
  return made;
}

/** Whether `Accept-Encoding` takes gzip (or `*`) with a q above 0. */
function acceptsGzip(req: IncomingMessage): boolean {
  return String(req.headers['accept-encoding'] ?? '')
    .split(',')
    .some((part) => {
      const [name, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return (name === 'gzip' || name === '*') && (q === undefined || Number(q.slice(2)) > 0);
    });
}

/** Serves `path` (`/v1/libs/...`) when it is a library file; 404 otherwise. */
export async function getLibraryFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  head: boolean,
): Promise<void> {
  const file = files().get(path);
  if (!file) throw new CoordinatorError('NOT_FOUND', `no library file ${path}`);
  const compressed = acceptsGzip(req) ? await gzipOf(file) : undefined;
  res.writeHead(200, {
    'Content-Type': TYPES[file.path.slice(file.path.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
    'Content-Length': compressed?.byteLength ?? file.bytes,
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: compressed ? `"sha256:${file.sha256}.gz"` : `"sha256:${file.sha256}"`,
    Vary: 'Accept-Encoding',
    ...(compressed ? { 'Content-Encoding': 'gzip' } : {}),
    // Public and versioned: pages on allowed origins may embed it, as they may modules.
    'Cross-Origin-Resource-Policy': 'cross-origin',
  });
  if (head) {
    res.end();
    return;
  }
  if (compressed) {
    res.end(compressed);
    return;
  }
  createReadStream(file.file)
    .on('error', (err) => res.destroy(err))
    .pipe(res);
}
