// Fuel instrumentation overhead (issue #14: at most 15 %) in Node, whose V8 is Chromium's. Each
// workload runs as compiled by clang ("original"), after a binaryen round trip alone (read and
// written back, nothing added: what the rewrite itself costs), and instrumented with each scheme
// of instrumentFuel: "passed" (the default: fuel as an extra parameter and result between the
// module's functions), "local" (a local per function synced with the global at calls) and
// "global" (charged on the global at every charge point). Times are CPU time of this process
// (process.cpuUsage: user + system), not wall time, so that time spent descheduled on a busy
// machine does not count; variants run interleaved, and the overhead is the median over
// repetitions of the ratio to the original's time in the same round. Workloads: the SIMD kernel kernel-poly-simd on a few MiB of f32
// (shared imported memory, called many times) and the C program fuel-work (integers, a switch,
// qsort through a function pointer, recursion, floating point, libm). Also prints the fuel a run
// uses, its ratio to the exact instruction count, module sizes and instrumentation times.
//
//   npm run bench:fuel -w @flock/coordinator      (builds the fixtures, npm run build -w @flock/worker-web, when absent)
//   options: --kernel-mib N (4) --kernel-reps N (200) --scale N (40) --runs N (9)
import { closeSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { WASI } from 'node:wasi';
import { DEFAULT_FUEL, FUEL_GLOBAL } from '@flock/protocol';
import binaryen from 'binaryen';
import { readBinary, WRITE_FEATURES } from '../../apps/coordinator/src/fuel/binaryen-raw.ts';
import { type FuelScheme, instrumentFuel } from '../../apps/coordinator/src/fuel/index.ts';
import { EXACT_GLOBAL, instrumentExactCount } from '../../apps/coordinator/test/fuel-exact-count.ts';
import { type WasmInstance, type WasmModule, wasm } from '../../apps/coordinator/test/fuel-wasm-api.ts';
import { ensureWorkerWebFixtures } from '../prerequisites.ts';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const KERNEL_MIB = option('--kernel-mib', 4);
const KERNEL_REPS = option('--kernel-reps', 200);
const SCALE = option('--scale', 40);
const RUNS = option('--runs', 9);
const FIXTURES = resolve(import.meta.dirname, '../../apps/worker-web/build/fixtures');
ensureWorkerWebFixtures(['kernel-poly-simd', 'fuel-work']);
const PAGE = 65_536;
const BUDGET = BigInt(DEFAULT_FUEL);
const SCHEMES: FuelScheme[] = ['passed', 'local', 'global'];
const VARIANTS = ['original', 'round trip', ...SCHEMES] as const;
type Variant = (typeof VARIANTS)[number];

/** CPU milliseconds of this process since `start`. */
function cpuMs(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

function roundTrip(bytes: Uint8Array): Uint8Array {
  const m = readBinary(bytes, binaryen.Features.All);
  try {
    m.setFeatures(WRITE_FEATURES);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/**
 * Every variant of a fixture, and a line on its sizes and instrumentation times: the first call
 * of the process (binaryen and the instrumentation not yet optimised by V8) and the median of 5.
 */
function buildVariants(name: string): { builds: Map<Variant, Uint8Array>; report: string } {
  const bytes = new Uint8Array(readFileSync(resolve(FIXTURES, `${name}.wasm`)));
  const t0 = performance.now();
  instrumentFuel(bytes);
  const first = performance.now() - t0;
  const builds = new Map<Variant, Uint8Array>([
    ['original', bytes],
    ['round trip', roundTrip(bytes)],
  ]);
  const times: string[] = [`first call ${first.toFixed(1)} ms`];
  for (const scheme of SCHEMES) {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      builds.set(scheme, instrumentFuel(bytes, { scheme }));
      ms.push(performance.now() - t0);
    }
    const size = builds.get(scheme)!.byteLength;
    times.push(
      `${scheme} ${size} bytes (${percent(size / bytes.byteLength)}) in ${median(ms).toFixed(1)} ms`,
    );
  }
  return { builds, report: `${name}: ${bytes.byteLength} bytes; instrumented: ${times.join(', ')}` };
}

function fuelGlobal(instance: WasmInstance, name = FUEL_GLOBAL): { value: unknown } | undefined {
  const global = instance.exports[name];
  return global instanceof wasm.Global ? global : undefined;
}

interface Row {
  variant: Variant;
  ms: number;
  ratio: number;
  fuel: bigint | undefined;
}

/** Runs `once(variant)` for every variant, interleaved, `reps` times after `warmup` rounds. */
async function measure(
  reps: number,
  warmup: number,
  once: (variant: Variant) => Promise<{ ms: number; fuel: bigint | undefined }>,
): Promise<Row[]> {
  const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const ratios = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const fuel = new Map<Variant, bigint | undefined>();
  for (let rep = -warmup; rep < reps; rep++) {
    const round = new Map<Variant, number>();
    // Rotate the order so that no variant always runs first (or right after the same one).
    const order = VARIANTS.map((_, i) => VARIANTS[(i + Math.max(rep, 0)) % VARIANTS.length]!);
    for (const variant of order) {
      const result = await once(variant);
      round.set(variant, result.ms);
      fuel.set(variant, result.fuel);
    }
    if (rep < 0) continue;
    for (const variant of VARIANTS) {
      times.get(variant)!.push(round.get(variant)!);
      ratios.get(variant)!.push(round.get(variant)! / round.get('original')!);
    }
  }
  return VARIANTS.map((variant) => ({
    variant,
    ms: median(times.get(variant)!),
    ratio: median(ratios.get(variant)!),
    fuel: fuel.get(variant),
  }));
}

function printRows(title: string, rows: Row[], unit: string): void {
  console.log(`\n${title}`);
  console.log(
    `  ${'variant'.padEnd(12)} ${`CPU ${unit}`.padStart(15)} ${'overhead'.padStart(10)}  fuel used`,
  );
  for (const r of rows) {
    const fuel = r.fuel === undefined ? '-' : r.fuel.toLocaleString('en');
    console.log(
      `  ${r.variant.padEnd(12)} ${r.ms.toFixed(3).padStart(15)} ${percent(r.ratio).padStart(10)}  ${fuel}`,
    );
  }
}

async function kernelBench(builds: Map<Variant, Uint8Array>): Promise<Row[]> {
  const inLen = KERNEL_MIB * 1024 * 1024;
  const inPtr = 4 * PAGE; // past the module's own 2 pages (data and stack)
  const outPtr = inPtr + inLen;
  const pages = Math.ceil((outPtr + inLen) / PAGE);
  const runs = new Map<Variant, { call: () => number; instance: WasmInstance; output: () => Uint8Array }>();
  for (const [variant, bytes] of builds) {
    const memory = new wasm.Memory({ initial: pages, maximum: 16_384, shared: true });
    const input = new Float32Array(memory.buffer, inPtr, inLen / 4);
    let seed = 1;
    for (let i = 0; i < input.length; i++) {
      seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
      input[i] = seed / 2 ** 31 - 1;
    }
    const instance = await wasm.instantiate(await wasm.compile(bytes), { env: { memory } });
    const kernel = instance.exports['flock_kernel'] as (a: number, b: number, c: number, d: number) => number;
    const output = () => new Uint8Array(memory.buffer, outPtr, inLen);
    runs.set(variant, { call: () => kernel(inPtr, inLen, outPtr, inLen), instance, output });
  }
  const rows = await measure(KERNEL_REPS, 10, async (variant) => {
    const run = runs.get(variant)!;
    const global = fuelGlobal(run.instance);
    if (global) global.value = BUDGET;
    const t0 = process.cpuUsage();
    const written = run.call();
    const ms = cpuMs(t0);
    if (written !== inLen) throw new Error(`${variant}: kernel returned ${written}`);
    return { ms, fuel: global ? BUDGET - (global.value as bigint) : undefined };
  });
  const expected = Buffer.from(runs.get('original')!.output());
  for (const [variant, run] of runs) {
    if (!expected.equals(Buffer.from(run.output()))) throw new Error(`${variant}: output differs`);
  }
  return rows;
}

async function runWasi(
  module: WasmModule,
  counter = FUEL_GLOBAL,
): Promise<{ ms: number; count: bigint | undefined }> {
  const devNull = openSync('/dev/null', 'w');
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: ['fuel-work', String(SCALE)],
      env: {},
      stdout: devNull,
      returnOnExit: true,
    });
    const instance = await wasm.instantiate(module, wasi.getImportObject());
    const global = fuelGlobal(instance, counter);
    if (global && counter === FUEL_GLOBAL) global.value = BUDGET;
    const t0 = process.cpuUsage();
    const code = wasi.start(instance);
    const ms = cpuMs(t0);
    if (code !== 0) throw new Error(`fuel-work exited with ${code}`);
    const value = global ? (global.value as bigint) : undefined;
    return { ms, count: value === undefined || counter !== FUEL_GLOBAL ? value : BUDGET - value };
  } finally {
    closeSync(devNull);
  }
}

async function programBench(builds: Map<Variant, Uint8Array>): Promise<Row[]> {
  // Compiled once: instances of one module share V8's optimised code, so after the warm-up round
  // every run measures optimised code, as a volunteer tab running the module's jobs would.
  const modules = new Map<Variant, WasmModule>();
  for (const [variant, bytes] of builds) modules.set(variant, await wasm.compile(bytes));
  return measure(RUNS, 1, async (variant) => {
    const { ms, count } = await runWasi(modules.get(variant)!);
    return { ms, fuel: count };
  });
}

const kernel = buildVariants('kernel-poly-simd');
const program = buildVariants('fuel-work');
console.log(`fuel bench: Node ${process.version} (V8 ${process.versions.v8})`);
console.log(kernel.report);
console.log(program.report);

printRows(
  `kernel-poly-simd, ${KERNEL_MIB} MiB of f32 per call, ${KERNEL_REPS} calls of each`,
  await kernelBench(kernel.builds),
  'ms/call',
);
const rows = await programBench(program.builds);
printRows(`fuel-work ${SCALE}, ${RUNS} runs of each`, rows, 'ms/run');

const exactModule = await wasm.compile(instrumentExactCount(program.builds.get('original')!));
const exact = (await runWasi(exactModule, EXACT_GLOBAL)).count!;
const used = rows.find((r) => r.variant === 'passed')!.fuel!;
console.log(
  `\nfuel-work ${SCALE}: ${used.toLocaleString('en')} fuel for ${exact.toLocaleString('en')} instructions ` +
    `executed (exact count): ${(Number(used) / Number(exact)).toFixed(4)}x`,
);
