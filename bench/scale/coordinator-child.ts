// One coordinator in its own process, for the scale benchmarks: configured from FLOCK_* like
// `npm start` (FLOCK_STORE=postgres://... selects the PostgreSQL store), run with --expose-gc,
// and driven over IPC so the parent can read this process's memory alone.
//   parent → child: { type: 'measure' }  child → parent: { type: 'memory', ... }
//   child → parent: { type: 'ready', port } once it listens
import { loadConfig } from '../../apps/coordinator/src/config.ts';
import { startCoordinator } from '../../apps/coordinator/src/start-coordinator.ts';
import { PostgresStore } from '../../apps/coordinator/src/store/postgres-store.ts';

export interface MemoryReport {
  type: 'memory';
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  workers: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  const config = loadConfig();
  const url = process.env.FLOCK_STORE;
  const store = url?.startsWith('postgres') ? new PostgresStore(url) : undefined;
  const running = await startCoordinator(config, store ? { store } : {});
  process.send?.({ type: 'ready', port: running.port });
  process.on('message', (msg: { type: string }) => {
    if (msg.type !== 'measure') return;
    // Two passes: the first frees what only a second collection can see as garbage.
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    const report: MemoryReport = {
      type: 'memory',
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      workers: running.coordinator.connectedWorkers().length,
    };
    process.send?.(report);
  });
  process.on('disconnect', () => {
    void running.close().then(() => process.exit(0));
  });
}

void main();
