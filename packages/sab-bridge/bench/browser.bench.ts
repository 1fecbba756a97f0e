// Chromium side of `npm run bench -w @flock/sab-bridge`: the same benchmarks as node.bench.ts on
// a COOP/COEP page's main thread against a dedicated Worker, in headless system Chromium.
import { ensureChromium } from '../../../bench/prerequisites.ts';
import { runInChromium } from './chromium-runner.ts';
import { formatResults } from './report.ts';

ensureChromium();
const results = await runInChromium({
  samples: Number(process.env.FLOCK_BENCH_SAMPLES ?? 400),
  bulk: Number(process.env.FLOCK_BENCH_BULK ?? 200),
  workloadJobs: 20_000,
  log: (line) => console.log(`  ${line}`),
});
console.log(formatResults(results));
