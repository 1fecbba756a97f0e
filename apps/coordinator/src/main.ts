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
  let running: Awaited<ReturnType<typeof startCoordinator>>;
  try {
    running = cluster
      ? await startClusterCoordinator(cluster.url, config, { ...cluster.options, onIdLost: idLost })
      : await startCoordinator(config);
  } catch (err) {
    // What only the start finds out: unreadable TLS files (CONFIG_INVALID naming the variable),
    // a host that does not resolve, a port taken, a data directory that cannot be made.
    const reason = startFailure(err, config);
    if (reason === undefined) throw err;
    process.stderr.write(`flock: ${reason}\n`);
    process.exit(2);
  }
  const site = running.publicUrl;
  const lines = [
    `flock coordinator listening on ${running.url}`,
    ...(site === running.url ? [] : [`  public URL      ${site}`]),
    `  volunteer page  ${site}/`,
    `  dashboard       ${site}/dashboard/`,
    `  API             ${site}/v1/tasks`,
    `  metrics         ${site}/metrics`,
    `  data            ${config.dataDir}`,
  ];
  if (running.devKey)
    lines.push(`  dev API key     ${running.devKey}   (set FLOCK_API_KEYS to use your own)`);
  if (running.selfSignedCertFile) lines.push(...trustHint(running.selfSignedCertFile));
  process.stdout.write(`${lines.join('\n')}\n`);
  const stop = (): void => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Another process claimed FLOCK_COORDINATOR_ID after this one's beats stopped: it has stopped. */
function idLost(err: CoordinatorError): void {
  process.stderr.write(`flock: ${err.message}\n`);
  process.exit(2);
}

/** The operator's line for a start that failed on its settings; undefined for anything else. */
function startFailure(err: unknown, config: ReturnType<typeof loadConfig>): string | undefined {
  if (err instanceof CoordinatorError && err.code === 'CONFIG_INVALID')
    return `bad configuration: ${err.message}`;
  if (!(err instanceof Error)) return undefined;
  const { code, syscall, path } = err as NodeJS.ErrnoException;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL')
    return `cannot listen on FLOCK_HOST=${config.host}: ${err.message}`;
  if (syscall === 'listen')
    return `cannot listen on FLOCK_PORT=${config.port} (FLOCK_HOST=${config.host}): ${err.message}`;
  // The data directory could not be made or written (a file in its path, no permission).
  if (path?.startsWith(config.dataDir)) return `cannot use FLOCK_DATA=${config.dataDir}: ${err.message}`;
  return undefined;
}

/** How to trust the development certificate, printed with FLOCK_TLS=self-signed. */
function trustHint(certFile: string): string[] {
  return [
    `  TLS certificate ${certFile}   (self-signed, for development; browsers warn until it is trusted)`,
    `    trust it: Node clients (SDK, CLI)  NODE_EXTRA_CA_CERTS=${certFile}`,
    `              curl                    curl --cacert ${certFile} ...`,
    `              Chromium on Linux       certutil -d sql:$HOME/.pki/nssdb -A -t P,, -n flock-dev -i ${certFile}`,
    `              Debian system store     cp ${certFile} /usr/local/share/ca-certificates/flock-dev.crt && update-ca-certificates`,
  ];
}

void main();
