// crypto.hash on hash-wasm (the tab's crypto runtime, run in Node: the same WASM the page embeds)
// against Node's native crypto (OpenSSL) on one core, measured in the same run: sha256 and blake3
// of 64 MiB inputs, GB/s each, and the ratios to native sha256 (Node has no native blake3). Also
// the runtime's cold load (module imported, first digest: hash-wasm compiles its WASM on first use)
// and the bytes a tab loads for it: hash-wasm embeds its WASM in its JS, so the library has no
// files of its own; the runtime's bundle (vite, minified, as the page's chunk) is printed.
//
//   npx tsx bench/libraries/crypto.ts [--mib N (64)] [--runs R (5)]
import { createHash, randomFillSync } from 'node:crypto';
import { build } from 'vite';
import { intOption, median } from './options.ts';

const MIB = intOption('--mib', 64);
const RUNS = intOption('--runs', 5);

/** The runtime bundled and minified by vite, as the page's build makes its chunk. */
async function runtimeBundleBytes(): Promise<number> {
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: true,
      lib: {
        entry: new URL('../../packages/libraries/src/runtime/crypto.ts', import.meta.url).pathname,
        formats: ['es'],
      },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => ('output' in o ? o.output : []));
  return outputs.reduce((sum, f) => sum + (f.type === 'chunk' ? f.code.length : f.source.length), 0);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const { runReference } = await import('../../packages/libraries/src/reference/index.ts');
  const tiny = [{ name: 'x', contentType: 'application/octet-stream', bytes: new Uint8Array(1) }];
  await runReference('crypto.hash', { algorithms: ['sha256', 'blake3'] }, tiny);
  const coldMs = performance.now() - t0;

  const data = randomFillSync(new Uint8Array(MIB * 2 ** 20));
  const input = [{ name: 'data.bin', contentType: 'application/octet-stream', bytes: data }];
  const seconds = { wasmSha256: [] as number[], wasmBlake3: [] as number[], nativeSha256: [] as number[] };
  const digests = { wasm: '', native: '' };
  // Interleaved run by run, so that a busy machine slows all three alike.
  for (let run = 0; run < RUNS; run++) {
    for (const algorithm of ['sha256', 'blake3'] as const) {
      const t = performance.now();
      const result = await runReference('crypto.hash', { algorithms: [algorithm] }, input);
      (algorithm === 'sha256' ? seconds.wasmSha256 : seconds.wasmBlake3).push((performance.now() - t) / 1000);
      if (algorithm === 'sha256')
        digests.wasm = JSON.parse(new TextDecoder().decode(result.outputs[0]!.bytes))['data.bin'].sha256;
    }
    const t = performance.now();
    digests.native = createHash('sha256').update(data).digest('hex');
    seconds.nativeSha256.push((performance.now() - t) / 1000);
  }
  if (digests.wasm !== digests.native) throw new Error('bench: hash-wasm and OpenSSL disagree on sha256');
  const gbps = (s: number[]) => data.byteLength / median(s) / 1e9;
  const native = gbps(seconds.nativeSha256);
  const rows: Array<[string, number]> = [
    ['sha256, hash-wasm (tab)', gbps(seconds.wasmSha256)],
    ['blake3, hash-wasm (tab)', gbps(seconds.wasmBlake3)],
    ['sha256, Node crypto (OpenSSL)', native],
  ];
  console.log(`crypto.hash of ${MIB} MiB, median of ${RUNS} runs, one core`);
  for (const [what, rate] of rows)
    console.log(
      `  ${what.padEnd(32)} ${rate.toFixed(3)} GB/s   ${(rate / native).toFixed(2)}x native sha256`,
    );
  console.log(
    `cold load: ${coldMs.toFixed(0)} ms (import + first digests); files fetched: none (WASM embedded)`,
  );
  console.log(
    `runtime bundle: ${((await runtimeBundleBytes()) / 1024).toFixed(0)} KiB minified (hash-wasm + @noble/ed25519)`,
  );
}

await main();
