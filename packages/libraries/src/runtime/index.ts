export { LibraryHost, type RuntimeFactories } from './library-host.ts';
export type {
  ExecutorGpu,
  LibraryInput,
  LibraryOutput,
  LibraryResult,
  LibraryRuntime,
  RuntimeContext,
} from './runtime.ts';

import type { RuntimeFactories } from './library-host.ts';

/** Every library's runtime, imported on first use (the page's bundle splits each into its own chunk). */
export const RUNTIMES: RuntimeFactories = {
  crypto: () => import('./crypto.ts').then((m) => m.cryptoRuntime),
  audio: () => import('./media.ts').then((m) => m.mediaRuntime),
  video: () => import('./media.ts').then((m) => m.mediaRuntime),
  image: () => import('./image.ts').then((m) => m.imageRuntime),
  data: () => import('./data.ts').then((m) => m.dataRuntime),
  ml: () => import('./ml.ts').then((m) => m.mlRuntime),
};
