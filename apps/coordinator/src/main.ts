// `npm start` / `node --import tsx apps/coordinator/src/main.ts`: reads the environment, starts
// the coordinator, prints the URLs (and the dev API key when none were configured).

import { clusterFromEnv, startClusterCoordinator } from './cluster/cluster.ts';
import { loadConfig } from './config.ts';
import { CoordinatorError } from './errors.ts';
import { startCoordinator } from './start-coordinator.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  let cluster: ReturnType<typeof clusterFromEnv>;
  try {
    config = loadConfig();
    cluster = clusterFromEnv();
  } catch (err) {
    if (err instanceof CoordinatorError) {
      process.stderr.write(`flock: bad configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // FLOCK_STORE=postgres://...: one of several coordinators on PostgreSQL (SCALE.md).
  const running = cluster
    ? await startClusterCoordinator(cluster.url, config, cluster.options)
    : await startCoordinator(config);
  const lines = [
    `flock coordinator listening on ${running.url}`,
    `  volunteer page  ${running.url}/`,
    `  dashboard       ${running.url}/dashboard/`,
    `  API             ${running.url}/v1/tasks`,
    `  metrics         ${running.url}/metrics`,
    `  data            ${config.dataDir}`,
  ];
  if (running.devKey)
    lines.push(`  dev API key     ${running.devKey}   (set FLOCK_API_KEYS to use your own)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const stop = (): void => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main();
