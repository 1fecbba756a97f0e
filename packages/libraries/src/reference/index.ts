// The coordinator's side of each library method: the same computation in Node (the same WASM
// library, or its native twin), for tests, spot checks and verification.
import { checkLibraryCall } from '../registry.ts';
import { runCrypto } from '../runtime/crypto.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';
import type { ModelSource } from './ml.ts';

export type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';
export { type NamedBytes, outputsAgree } from './compare.ts';
export type { ModelSource } from './ml.ts';

/** What a reference may need beyond the call: ml's models by hash. */
export interface ReferenceOptions {
  models?: ModelSource;
  /**
   * Aborted: the caller no longer wants the result. data.query interrupts DuckDB and rejects;
   * the other references run to their end (audio/video within their own time limit).
   */
  signal?: AbortSignal;
}

type Reference = (
  call: ReturnType<typeof checkLibraryCall>,
  inputs: LibraryInput[],
  options: ReferenceOptions,
) => Promise<LibraryResult>;

const REFERENCES: Partial<Record<string, Reference>> = {
  crypto: runCrypto,
  audio: (call, inputs) => import('./media.ts').then((m) => m.runMediaReference(call, inputs)),
  video: (call, inputs) => import('./media.ts').then((m) => m.runMediaReference(call, inputs)),
  image: (call, inputs) => import('./image.ts').then((m) => m.runImageReference(call, inputs)),
  data: (call, inputs, options) =>
    import('./data.ts').then((m) => m.runDataReference(call, inputs, options.signal)),
  ml: (call, inputs, options) =>
    import('./ml.ts').then((m) => m.runMlReference(call, inputs, options.models ?? (() => undefined))),
};

/** Runs `op` in Node; throws LibraryError like the tab would. */
export async function runReference(
  op: string,
  params: unknown,
  inputs: LibraryInput[],
  options: ReferenceOptions = {},
): Promise<LibraryResult> {
  const call = checkLibraryCall(op, params, inputs.length);
  const reference = REFERENCES[call.method.library];
  if (!reference) throw new Error(`no reference for ${call.method.library} yet`);
  return reference(call, inputs, options);
}
