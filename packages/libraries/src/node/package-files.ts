// The library files on this machine's disk (the installed npm packages): what the coordinator
// serves under /v1/libs and what the page's manifest of hashes is built from. Node only.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { allLibraryFiles, type LibraryManifest, libraryFilePath } from '../files.ts';

const require = createRequire(import.meta.url);

export interface PackageFile {
  package: string;
  version: string;
  path: string;
  /** Where it lies on disk. */
  file: string;
  sha256: string;
  bytes: number;
  /** Its URL path on the coordinator (`/v1/libs/<package>@<version>/<path>`). */
  urlPath: string;
}

/**
 * The directory and version of an installed package. Found on Node's module search paths rather
 * than by `require.resolve('<pkg>/package.json')`, which a package's `exports` may forbid (wasm-vips).
 */
export function installedPackage(pkg: string): { dir: string; version: string } {
  const manifest = (require.resolve.paths(pkg) ?? [])
    .map((dir) => join(dir, pkg, 'package.json'))
    .find((file) => existsSync(file));
  if (manifest === undefined) throw new Error(`${pkg} is not installed (npm install)`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { dir: dirname(manifest), version };
}

let cached: PackageFile[] | undefined;

/** Every library file, hashed once per process (tens of MB: about a second). */
export function packageFiles(): PackageFile[] {
  if (cached) return cached;
  cached = allLibraryFiles().map(({ package: pkg, path }) => {
    const { dir, version } = installedPackage(pkg);
    const file = join(dir, path);
    const bytes = readFileSync(file);
    return {
      package: pkg,
      version,
      path,
      file,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.byteLength,
      urlPath: libraryFilePath(pkg, version, path),
    };
  });
  return cached;
}

/** The manifest the page's bundle carries. */
export function libraryManifest(): LibraryManifest {
  const manifest: Record<
    string,
    { version: string; files: Record<string, { sha256: string; bytes: number }> }
  > = {};
  for (const f of packageFiles()) {
    manifest[f.package] ??= { version: f.version, files: {} };
    manifest[f.package]!.files[f.path] = { sha256: f.sha256, bytes: f.bytes };
  }
  return manifest;
}

/** The id the page imports the manifest by (see `libraryManifestPlugin`). */
export const MANIFEST_MODULE = 'virtual:flock-library-manifest';

/**
 * A Vite plugin that gives the page `import manifest from 'virtual:flock-library-manifest'`. It
 * also drops the default WASM URL of parquet-wasm's glue, which would copy its 4.7 MiB WASM into
 * the page's build: the tab always hands the glue the checked bytes it fetched from /v1/libs.
 */
export function libraryManifestPlugin(): {
  name: string;
  enforce: 'pre';
  resolveId(id: string): string | undefined;
  load(id: string): string | undefined;
  transform(code: string, id: string): string | undefined;
} {
  const resolved = `\0${MANIFEST_MODULE}`;
  const defaultWasm = "new URL('parquet_wasm_bg.wasm', import.meta.url)";
  return {
    name: 'flock-library-manifest',
    enforce: 'pre',
    resolveId: (id) => (id === MANIFEST_MODULE ? resolved : undefined),
    load: (id) => (id === resolved ? `export default ${JSON.stringify(libraryManifest())};` : undefined),
    transform: (code, id) =>
      id.includes('parquet-wasm') && code.includes(defaultWasm)
        ? code.replace(defaultWasm, 'undefined /* Flock passes the checked bytes */')
        : undefined,
  };
}
