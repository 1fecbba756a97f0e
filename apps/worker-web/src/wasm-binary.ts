// Reads the parts of a WebAssembly binary the executor must check before compiling it (imports,
// memory limits) and rewrites the memory maximum so that `memory.grow` fails at the page limit.
// Only the import (2) and memory (5) sections are decoded; every other byte is copied unchanged.
import { ExecutorError } from './executor-error.ts';

/** Memory limits as encoded in the binary (pages of 64 KiB). */
export interface MemoryLimits {
  initial: number;
  maximum?: number;
  shared: boolean;
}

/** One import of a module; `memory` is set for memory imports. */
export interface WasmImport {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  memory?: MemoryLimits;
}

/** What the executor learns from a binary without compiling it. */
export interface WasmModuleInfo {
  imports: WasmImport[];
  /** Memories the module defines itself (section 5), in order. */
  memories: MemoryLimits[];
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
  ) {
    this.pos = pos;
  }

  byte(): number {
    const b = this.bytes[this.pos];
    if (b === undefined) throw malformed('unexpected end of module');
    this.pos++;
    return b;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw malformed('LEB128 value too long');
    }
    if (result > 0xffffffff) throw malformed('LEB128 value out of range');
    return result;
  }

  name(): string {
    const length = this.u32();
    const end = this.pos + length;
    if (end > this.bytes.length) throw malformed('name runs past the end');
    // A copy of the name (bytes in shared memory cannot be decoded in place by browsers).
    const text = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.slice(this.pos, end));
    this.pos = end;
    return text;
  }

  limits(): MemoryLimits {
    const flags = this.byte();
    if (flags > 3) throw malformed(`unsupported limits flags 0x${flags.toString(16)}`);
    const initial = this.u32();
    const limits: MemoryLimits = { initial, shared: (flags & 2) !== 0 };
    if (flags & 1) limits.maximum = this.u32();
    return limits;
  }
}

function malformed(message: string): ExecutorError {
  return new ExecutorError('EXECUTION_ERROR', `malformed WebAssembly module: ${message}`);
}

function checkMagic(bytes: Uint8Array): void {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw malformed('not a WebAssembly binary (bad magic or version)');
  }
}

interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  end: number;
}

function sections(bytes: Uint8Array): Section[] {
  checkMagic(bytes);
  const reader = new Reader(bytes, 8);
  const result: Section[] = [];
  while (reader.pos < bytes.length) {
    const start = reader.pos;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.pos;
    const end = contentStart + size;
    if (end > bytes.length) throw malformed(`section ${id} runs past the end`);
    result.push({ id, start, contentStart, end });
    reader.pos = end;
  }
  return result;
}

/** Decodes the imports and defined memories of a module. Throws EXECUTION_ERROR when malformed. */
export function inspectWasm(bytes: Uint8Array): WasmModuleInfo {
  const info: WasmModuleInfo = { imports: [], memories: [] };
  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.contentStart);
    if (section.id === SECTION_IMPORT) {
      const count = reader.u32();
      for (let i = 0; i < count; i++) {
        const module = reader.name();
        const name = reader.name();
        const kind = reader.byte();
        switch (kind) {
          case 0:
            reader.u32();
            info.imports.push({ module, name, kind: 'function' });
            break;
          case 1:
            reader.byte();
            reader.limits();
            info.imports.push({ module, name, kind: 'table' });
            break;
          case 2:
            info.imports.push({ module, name, kind: 'memory', memory: reader.limits() });
            break;
          case 3:
            reader.byte();
            reader.byte();
            info.imports.push({ module, name, kind: 'global' });
            break;
          case 4:
            reader.byte();
            reader.u32();
            info.imports.push({ module, name, kind: 'tag' });
            break;
          default:
            throw malformed(`unknown import kind ${kind}`);
        }
      }
    } else if (section.id === SECTION_MEMORY) {
      const count = reader.u32();
      for (let i = 0; i < count; i++) info.memories.push(reader.limits());
    }
  }
  return info;
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

function encodeLimits(limits: MemoryLimits): number[] {
  const flags = (limits.maximum === undefined ? 0 : 1) | (limits.shared ? 2 : 0);
  return [flags, ...leb(limits.initial), ...(limits.maximum === undefined ? [] : leb(limits.maximum))];
}

/**
 * Returns a copy of `bytes` whose defined memories have `maximum <= maxPages`, so the engine itself
 * makes `memory.grow` return -1 past the limit. Throws MEMORY_LIMIT when a memory's initial size is
 * already above it. Returns `bytes` unchanged when no memory needs a tighter maximum.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  const section = sections(bytes).find((s) => s.id === SECTION_MEMORY);
  if (!section) return bytes;
  const reader = new Reader(bytes, section.contentStart);
  const count = reader.u32();
  const memories: MemoryLimits[] = [];
  let changed = false;
  for (let i = 0; i < count; i++) {
    const limits = reader.limits();
    if (limits.initial > maxPages) {
      throw new ExecutorError(
        'MEMORY_LIMIT',
        `module needs ${limits.initial} initial pages, the limit is ${maxPages}`,
      );
    }
    if (limits.maximum === undefined || limits.maximum > maxPages) {
      limits.maximum = maxPages;
      changed = true;
    }
    memories.push(limits);
  }
  if (!changed) return bytes;
  const content = [...leb(count), ...memories.flatMap(encodeLimits)];
  const header = [SECTION_MEMORY, ...leb(content.length)];
  const out = new Uint8Array(bytes.length - (section.end - section.start) + header.length + content.length);
  out.set(bytes.subarray(0, section.start), 0);
  out.set(header, section.start);
  out.set(content, section.start + header.length);
  out.set(bytes.subarray(section.end), section.start + header.length + content.length);
  return out;
}
