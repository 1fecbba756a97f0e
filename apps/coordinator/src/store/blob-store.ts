import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../sha256.ts';

/** `sha256:<hex>` names; anything else is not a blob name. */
const BLOB_NAME = /^sha256:([0-9a-f]{64})$/;

/** Parses `sha256:<hex>` and returns the hex digest, or undefined. */
export function blobHex(name: string): string | undefined {
  return BLOB_NAME.exec(name)?.[1];
}

export { sha256Hex };

/**
 * Content-addressed files under `<dataDir>/blobs/sha256/<2 hex>/<64 hex>`. Writes go to a temp
 * file and are renamed into place, so a crash never leaves a partial blob under its hash.
 */
export class BlobStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'blobs', 'sha256');
    this.tmp = join(dataDir, 'tmp');
    mkdirSync(this.root, { recursive: true });
    mkdirSync(this.tmp, { recursive: true });
  }

  pathOf(hex: string): string {
    return join(this.root, hex.slice(0, 2), hex);
  }

  has(hex: string): boolean {
    return existsSync(this.pathOf(hex));
  }

  size(hex: string): number | undefined {
    try {
      return statSync(this.pathOf(hex)).size;
    } catch {
      return undefined;
    }
  }

  read(hex: string): Uint8Array | undefined {
    try {
      return readFileSync(this.pathOf(hex));
    } catch {
      return undefined;
    }
  }

  /**
   * Stores bytes; returns the sha256 hex. Storing the same bytes again only touches the file, so
   * garbage collection (which spares recent files) sees it as new.
   */
  put(bytes: Uint8Array): string {
    const hex = sha256Hex(bytes);
    if (this.has(hex)) {
      const now = new Date();
      try {
        utimesSync(this.pathOf(hex), now, now);
        return hex;
      } catch {
        // removed in between: write it again
      }
    }
    const writer = this.writer();
    writer.write(bytes);
    writer.commit(hex);
    return hex;
  }

  /** Removes a blob; returns its size, or undefined when it was not there. */
  delete(hex: string): number | undefined {
    const path = this.pathOf(hex);
    try {
      const { size } = statSync(path);
      unlinkSync(path);
      return size;
    } catch {
      return undefined;
    }
  }

  /** Every stored blob, with its size and last write (or touch) time. */
  *list(): Generator<{ hex: string; size: number; mtimeMs: number }> {
    for (const dir of readdirSync(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const hex of readdirSync(join(this.root, dir))) {
        if (!/^[0-9a-f]{64}$/.test(hex)) continue;
        try {
          const st = statSync(join(this.root, dir, hex));
          yield { hex, size: st.size, mtimeMs: st.mtimeMs };
        } catch {
          // removed meanwhile
        }
      }
    }
  }

  /** Removes temp files (of writers a crash interrupted) older than `beforeMs`; returns how many. */
  removeStaleTemp(beforeMs: number): number {
    let removed = 0;
    for (const name of readdirSync(this.tmp)) {
      const path = join(this.tmp, name);
      try {
        if (statSync(path).mtimeMs < beforeMs) {
          unlinkSync(path);
          removed++;
        }
      } catch {
        // removed meanwhile
      }
    }
    return removed;
  }

  /** A streaming writer: bytes go to a temp file while the sha256 is computed. */
  writer(): BlobWriter {
    return new BlobWriter(join(this.tmp, randomBytes(12).toString('hex')), (hex) => this.pathOf(hex));
  }
}

export class BlobWriter {
  private fd: number | undefined;
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly tmpPath: string,
    private readonly target: (hex: string) => string,
  ) {
    this.fd = openSync(tmpPath, 'w', 0o600);
  }

  write(chunk: Uint8Array): void {
    if (this.fd === undefined) throw new Error('blob writer is closed');
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Closes the temp file and returns the sha256 hex of everything written. */
  finish(): string {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return this.hash.digest('hex');
  }

  /** Moves the finished file into place under `hex` (computed by `finish` or known). */
  commit(hex?: string): string {
    const digest = this.fd !== undefined ? this.finish() : hex;
    if (digest === undefined) throw new Error('blob writer has no digest');
    const path = this.target(digest);
    mkdirSync(join(path, '..'), { recursive: true });
    renameSync(this.tmpPath, path);
    return digest;
  }

  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    try {
      unlinkSync(this.tmpPath);
    } catch {
      // already gone
    }
  }
}
