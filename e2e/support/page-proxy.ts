// A small reverse proxy in front of a coordinator, for the tab's side of the network:
// - `stripIsolation` removes the cross-origin isolation headers (COOP, COEP) from every response,
//   serving the volunteer page as a site that forgot them would;
// - `sever()` cuts every live connection (a network that drops: the WebSocket ends with 1006),
//   which Chromium's offline emulation alone does not do to an open socket on 127.0.0.1.
// HTTP requests and the /v1/worker WebSocket upgrade pass through unchanged otherwise; the Host
// header is kept, so the coordinator sees the page's own origin and allows the socket.
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

/** Response headers a cross-origin-isolated page needs; `stripIsolation` drops them. */
export const ISOLATION_HEADERS = ['cross-origin-opener-policy', 'cross-origin-embedder-policy'] as const;

export interface PageProxy {
  /** `http://127.0.0.1:<port>`: open the volunteer page here. */
  readonly url: string;
  /** Destroys every open connection through the proxy (new ones are still accepted). */
  sever(): void;
  close(): Promise<void>;
}

/** Starts the proxy on a free port in front of `target` (`http://host:port`). */
export async function startPageProxy(
  target: string,
  options: { stripIsolation: boolean },
): Promise<PageProxy> {
  const upstream = new URL(target);
  const port = Number(upstream.port);
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((req, res) => {
    const forward = request(
      { host: upstream.hostname, port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const headers = { ...answer.headers };
        if (options.stripIsolation) for (const name of ISOLATION_HEADERS) delete headers[name];
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.headersSent || res.writeHead(502).end());
    req.pipe(forward);
  });
  server.on('connection', track);
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const backend = connect(port, upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      backend.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) backend.write(head);
      backend.pipe(client);
      client.pipe(backend);
    });
    track(backend);
    for (const s of [client, backend]) {
      s.on('error', () => {
        client.destroy();
        backend.destroy();
      });
      s.on('close', () => {
        client.destroy();
        backend.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  const sever = (): void => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    sever,
    close: () =>
      new Promise<void>((resolve) => {
        sever();
        server.close(() => resolve());
      }),
  };
}
