// A TCP relay between a coordinator and its PostgreSQL server, that a test closes and reopens: a
// real outage from the coordinator's side that leaves the shared test server running.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Forwards 127.0.0.1:<port> to `target`; `close()` ends every relayed connection too. */
export class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((ok) => server.listen(this.port, '127.0.0.1', ok));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => server?.close(() => ok()) ?? ok());
  }
}
