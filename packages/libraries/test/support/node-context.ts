// A RuntimeContext for running the tab's library runtimes in Node (tests, benches): files come
// from node_modules instead of the coordinator, progress and stops are recorded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LIBRARIES, type LibraryName } from '../../src/index.ts';
import { installedPackage } from '../../src/node/package-files.ts';
import type { RuntimeContext } from '../../src/runtime/index.ts';

/** The directory of an installed npm package (found even when its `exports` hide package.json). */
export function packageDir(pkg: string): string {
  return installedPackage(pkg).dir;
}

export interface NodeContext extends RuntimeContext {
  /** Every progress report. */
  readonly reports: number[];
  /** Makes stopRequested() answer `reason`. */
  stop(reason: string): void;
  /** Files asked for, as `<package>/<path>`. */
  readonly fetched: string[];
}

export function nodeContext(
  library: LibraryName,
  limits: Partial<RuntimeContext['limits']> = {},
): NodeContext {
  const reports: number[] = [];
  const fetched: string[] = [];
  let stopped: string | undefined;
  return {
    reports,
    fetched,
    stop: (reason) => {
      stopped = reason;
    },
    file: async (pkg, path) => {
      fetched.push(`${pkg}/${path}`);
      return new Uint8Array(readFileSync(join(packageDir(pkg), path)));
    },
    url: (pkg, path) => pathToFileURL(join(packageDir(pkg), path)).href,
    progress: (pct) => reports.push(pct),
    stopRequested: () => stopped,
    threads: typeof SharedArrayBuffer === 'function',
    limits: { ...LIBRARIES[library].limits, ...limits },
  };
}
