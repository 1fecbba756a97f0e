// nginx in front of a coordinator, as the README's Operators section sets it up: TLS terminated
// by nginx, WebSocket upgrades passed through, X-Forwarded-* set for the coordinator (which
// believes them only from FLOCK_TRUSTED_PROXIES). Started as a child process (no daemon, no
// master) with a generated configuration in a temp dir, so a test needs no root and leaves nothing.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where Debian's `nginx` package puts the binary. */
export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

/** What the `server` block needs. */
export interface FlockSite {
  /** `host:port` nginx listens on with TLS. */
  listen: string;
  serverName: string;
  certFile: string;
  keyFile: string;
  /** The coordinator, e.g. `127.0.0.1:8787` (plain HTTP). */
  upstream: string;
}

/**
 * The `server { ... }` block for Flock: what the README shows for /etc/nginx/sites-enabled/flock.
 * Long timeouts keep volunteer WebSockets open; buffering is off so `/v1/events` and streamed
 * results flow; the body limit matches FLOCK_MAX_BODY_BYTES' default.
 */
export function flockServerBlock(site: FlockSite): string {
  return `server {
    listen ${site.listen} ssl;
    server_name ${site.serverName};
    ssl_certificate ${site.certFile};
    ssl_certificate_key ${site.keyFile};
    client_max_body_size 16m;

    location / {
        proxy_pass http://${site.upstream};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
`;
}

/** The `map` the server block's `Connection` header needs (in the `http` block). */
export const CONNECTION_UPGRADE_MAP = `map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
`;

/** A whole nginx.conf for a foreground nginx that keeps everything in `dir`. */
function nginxConf(dir: string, site: FlockSite): string {
  const indent = (text: string) => text.replace(/^(?=.)/gm, '    ');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path ${join(dir, 'tmp/body')};
    proxy_temp_path ${join(dir, 'tmp/proxy')};
    fastcgi_temp_path ${join(dir, 'tmp/fastcgi')};
    uwsgi_temp_path ${join(dir, 'tmp/uwsgi')};
    scgi_temp_path ${join(dir, 'tmp/scgi')};
${indent(CONNECTION_UPGRADE_MAP)}${indent(flockServerBlock(site))}}
`;
}

/**
 * A certificate and key for `name` (and the address 127.0.0.1, so Node clients outside the
 * browser's host rules can verify it) made with openssl: what an operator gets from their CA.
 */
export function makeCertificate(dir: string, name: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`],
      ...['-keyout', keyFile, '-out', certFile],
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}

/** A running nginx; `stop()` ends it and waits for the exit. */
export class NginxProcess {
  #stderr = '';

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
  }

  /** Writes the configuration into `dir` and starts nginx in the foreground. */
  static async start(dir: string, site: FlockSite): Promise<NginxProcess> {
    if (!NGINX) throw new Error('nginx is not installed');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    const conf = join(dir, 'nginx.conf');
    await writeFile(conf, nginxConf(dir, site));
    return new NginxProcess(
      spawn(NGINX, ['-p', dir, '-c', conf, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] }),
      dir,
    );
  }

  /** What nginx wrote to stderr (its start errors). */
  get stderr(): string {
    return this.#stderr;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGQUIT');
    await exited;
  }
}
