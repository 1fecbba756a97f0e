// The files of the libraries' WASM builds, as an executor gets them: fetched from the coordinator
// (`/v1/libs/<package>@<version>/<path>`, immutable, so the browser's HTTP cache keeps them across
// executors and reloads) and checked against the sha256 the page's bundle carries before a byte is
// used. Each file is fetched once per executor.
import { type LibraryManifest, libraryFilePath } from '@flock/libraries';
import { sha256 as sha256Hex } from 'hash-wasm';

export class LibraryFiles {
  private readonly loaded = new Map<string, Promise<Uint8Array>>();
  /** Bytes fetched by this executor (the cold-load cost of its libraries). */
  fetchedBytes = 0;

  constructor(
    private readonly manifest: LibraryManifest,
    private readonly origin: string,
  ) {}

  /** The coordinator URL of a file of the manifest; throws for any other file. */
  url(pkg: string, path: string): string {
    return new URL(libraryFilePath(pkg, this.entry(pkg, path).version, path), this.origin).href;
  }

  /** The file's checked bytes. */
  file(pkg: string, path: string): Promise<Uint8Array> {
    const key = `${pkg}/${path}`;
    let loading = this.loaded.get(key);
    if (!loading) {
      loading = this.fetchChecked(pkg, path);
      loading.catch(() => this.loaded.delete(key)); // the next job tries again
      this.loaded.set(key, loading);
    }
    return loading;
  }

  private entry(pkg: string, path: string): { version: string; sha256: string } {
    const entry = this.manifest[pkg];
    const file = entry?.files[path];
    if (!entry || !file) throw new Error(`${pkg}/${path} is not a library file of this page`);
    return { version: entry.version, sha256: file.sha256 };
  }

  private async fetchChecked(pkg: string, path: string): Promise<Uint8Array> {
    const { sha256 } = this.entry(pkg, path);
    const url = this.url(pkg, path);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    // hash-wasm, not WebCrypto: a page on an insecure origin has no crypto.subtle, and its tab may
    // still be sent library jobs that need no shared memory.
    const hex = await sha256Hex(bytes);
    if (hex !== sha256) throw new Error(`${url} has sha256 ${hex}, the page expects ${sha256}`);
    this.fetchedBytes += bytes.byteLength;
    return bytes;
  }
}
