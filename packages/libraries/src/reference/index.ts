// The coordinator's side of each library method: the same computation in Node (the same WASM
// library, or its native twin), for tests, spot checks and verification.
import { checkLibraryCall } from '../registry.ts';
import { runCrypto } from '../runtime/crypto.ts';
import type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';

export type { LibraryInput, LibraryResult } from '../runtime/runtime.ts';
export { type NamedBytes, outputsAgree } from './compare.ts';

type Reference = (
  call: ReturnType<typeof checkLibraryCall>,
  inputs: LibraryInput[],
) => Promise<LibraryResult>;

const REFERENCES: Partial<Record<string, Reference>> = {
  crypto: runCrypto,
  audio: (call, inputs) => import('./media.ts').then((m) => m.runMediaReference(call, inputs)),
  video: (call, inputs) => import('./media.ts').then((m) => m.runMediaReference(call, inputs)),
  image: (call, inputs) => import('./image.ts').then((m) => m.runImageReference(call, inputs)),
  data: (call, inputs) => import('./data.ts').then((m) => m.runDataReference(call, inputs)),
};

/** Runs `op` in Node; throws LibraryError like the tab would. */
export async function runReference(
  op: string,
  params: unknown,
  inputs: LibraryInput[],
): Promise<LibraryResult> {
  const call = checkLibraryCall(op, params, inputs.length);
  const reference = REFERENCES[call.method.library];
  if (!reference) throw new Error(`no reference for ${call.method.library} yet`);
  return reference(call, inputs);
}
