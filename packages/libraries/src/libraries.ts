// The libraries a tab can run, with their WASM builds and the seed's default limits.
import type { LibraryDefinition, LibraryName } from './method.ts';

const MiB = 1 << 20;

export const LIBRARIES: Readonly<Record<LibraryName, LibraryDefinition>> = {
  image: {
    name: 'image',
    package: 'wasm-vips',
    doc: 'libvips (wasm-vips): decode, transform and encode JPEG, PNG, WebP and GIF',
    limits: { maxInputBytes: 10 * MiB, maxOutputBytes: 50 * MiB, timeoutMs: 5_000, memoryPages: 16_384 },
    needsSharedMemory: true,
  },
  data: {
    name: 'data',
    package: '@duckdb/duckdb-wasm',
    doc: 'DuckDB (duckdb-wasm): SQL over CSV, Parquet, JSON and Arrow inputs',
    limits: { maxInputBytes: 256 * MiB, maxOutputBytes: 64 * MiB, timeoutMs: 60_000, memoryPages: 32_768 },
    needsSharedMemory: false,
  },
  crypto: {
    name: 'crypto',
    package: 'hash-wasm',
    doc: 'hash-wasm, WebCrypto and @noble/ed25519: digests, HMAC, Ed25519 and AES-GCM',
    limits: { maxInputBytes: 256 * MiB, maxOutputBytes: 16 * MiB, timeoutMs: 30_000, memoryPages: 4_096 },
    needsSharedMemory: false,
  },
  audio: {
    name: 'audio',
    package: '@ffmpeg/core',
    doc: 'FFmpeg (@ffmpeg/core): transcode, resample, normalize and trim audio',
    limits: { maxInputBytes: 100 * MiB, maxOutputBytes: 200 * MiB, timeoutMs: 60_000, memoryPages: 32_768 },
    needsSharedMemory: false,
  },
  video: {
    name: 'video',
    package: '@ffmpeg/core',
    doc: 'FFmpeg (@ffmpeg/core): transcode and trim video, extract frames',
    limits: { maxInputBytes: 100 * MiB, maxOutputBytes: 500 * MiB, timeoutMs: 60_000, memoryPages: 32_768 },
    needsSharedMemory: false,
  },
  ml: {
    name: 'ml',
    package: 'onnxruntime-web',
    doc: 'ONNX Runtime (onnxruntime-web): ONNX models on WebGPU or WASM; the model counts as an input',
    limits: { maxInputBytes: 512 * MiB, maxOutputBytes: 256 * MiB, timeoutMs: 60_000, memoryPages: 65_536 },
    needsSharedMemory: false,
  },
};

export const LIBRARY_NAMES = Object.keys(LIBRARIES) as LibraryName[];

export function isLibraryName(name: string): name is LibraryName {
  return Object.hasOwn(LIBRARIES, name);
}
