// The operation a task runs, as SLOs, metrics and circuit breakers count it: a built-in or
// library op by name (`sum`, `image.resize`), a WASM or WGSL module by kind and hash prefix.
import type { ComputeEnvelope } from '@flock/protocol';

export function opKeyOf(envelope: ComputeEnvelope): string {
  const module = envelope.module;
  const kind = module?.kind ?? 'wasm';
  if (kind === 'wasm' || kind === 'wgsl') {
    const hex = /^(?:sha256|blake3):([0-9a-f]{12})/.exec(module?.hash ?? '')?.[1];
    return `${kind}:${hex ?? 'unnamed'}`;
  }
  return envelope.op || kind;
}
