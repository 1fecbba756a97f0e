// Parquet for data.query in the tab: parquet-wasm (arrow-rs's Parquet reader and writer compiled to
// WASM) turns a Parquet input into an Arrow IPC stream, which duckdb-wasm loads as it loads Arrow
// inputs, and a result's Arrow IPC stream into Parquet. duckdb-wasm's own Parquet support is an
// extension it fetches from the network at run time, which a tab cannot. The glue (the
// wasm-bindgen web target) is bundled with the runtime; its WASM comes only through the
// RuntimeContext (hash-checked bytes), instantiated once, by the first job that needs it.
import init, {
  Compression,
  ParquetFile,
  readParquet,
  readSchema,
  Table,
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm/esm';
import { LibraryError } from '../library-error.ts';
import { PARQUET_PACKAGE, PARQUET_WASM } from './data-files.ts';
import type { RuntimeContext } from './runtime.ts';

/** The codec of every column of `result.parquet`: zstd at arrow-rs's default level (1). */
export const PARQUET_COMPRESSION = 'zstd';

/** Rows per Arrow batch read from a Parquet file (the reader's default, 1024, makes many tiny batches). */
const READ_BATCH_ROWS = 122_880;

let ready: Promise<void> | undefined;

/**
 * Instantiates parquet-wasm from its WASM (through `ctx.file`), once per runtime; later calls wait
 * for the first. A failure is LIBRARY_LOAD_FAILED, and the next job tries again.
 */
export function loadParquet(ctx: Pick<RuntimeContext, 'file'>): Promise<void> {
  ready ??= (async () => {
    try {
      const bytes = await ctx.file(PARQUET_PACKAGE, PARQUET_WASM);
      await init({ module_or_path: bytes as Uint8Array<ArrayBuffer> });
    } catch (err) {
      ready = undefined;
      throw new LibraryError(
        'LIBRARY_LOAD_FAILED',
        `parquet-wasm could not be loaded: ${(err as Error).message}`,
      );
    }
  })();
  return ready;
}

/** A Parquet file as one Arrow IPC stream. Throws parquet-wasm's Error for bytes that are not Parquet. */
export function parquetToArrow(bytes: Uint8Array): Uint8Array {
  return readParquet(bytes, { batchSize: READ_BATCH_ROWS }).intoIPCStream();
}

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

/**
 * A Parquet file's schema as a zero-row Arrow IPC stream. Only the footer is handed to parquet-wasm
 * (behind the leading magic): copying the whole file into its memory would cost more than the read.
 */
export function parquetSchema(bytes: Uint8Array): Uint8Array {
  const n = bytes.byteLength;
  const footer = n >= 12 ? new DataView(bytes.buffer, bytes.byteOffset + n - 8, 4).getUint32(0, true) : n;
  if (footer + 12 > n || !MAGIC.every((c, i) => bytes[n - 4 + i] === c))
    return readSchema(bytes).intoIPCStream(); // not Parquet: parquet-wasm says why
  const tail = new Uint8Array(4 + footer + 8);
  tail.set(MAGIC);
  tail.set(bytes.subarray(n - 8 - footer), 4);
  return readSchema(tail).intoIPCStream();
}

/**
 * The named columns of a Parquet file (top-level names; kept in the file's order whatever the order
 * given) as one Arrow IPC stream; only those column chunks are decoded. parquet-wasm 0.8's sync
 * reader ignores `columns`; its async ParquetFile honours them. At least one column: none reads no rows.
 */
export async function parquetColumnsToArrow(
  bytes: Uint8Array,
  columns: readonly string[],
): Promise<Uint8Array> {
  // A Blob cannot be made from a view of shared memory (the tab's inputs are): copy those.
  const own = bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
  const file = await ParquetFile.fromFile(new Blob([own as Uint8Array<ArrayBuffer>]));
  try {
    const table = await file.read({ columns: [...columns], batchSize: READ_BATCH_ROWS });
    return table.intoIPCStream();
  } finally {
    file.free();
  }
}

/** An Arrow IPC stream as a Parquet file, every column compressed with zstd. */
export function arrowToParquet(stream: Uint8Array): Uint8Array {
  const properties = new WriterPropertiesBuilder()
    .setCompression(Compression.ZSTD)
    .setCreatedBy('flock data.query (parquet-wasm)')
    .build();
  return writeParquet(Table.fromIPCStream(stream), properties);
}
