// A small reverse proxy in front of a coordinator that removes the cross-origin isolation headers
// (COOP, COEP) from every response: the volunteer page as a site that forgot them would serve it.
// HTTP requests and the /v1/worker WebSocket upgrade are passed through unchanged otherwise; the
// Host header is kept, so the coordinator sees the page's own origin and allows the socket.
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

/** Response headers a cross-origin-isolated page needs; the proxy drops them. */
export const ISOLATION_HEADERS = ['cross-origin-opener-policy', 'cross-origin-embedder-policy'] as const;

export interface IsolationStrippingProxy {
  /** `http://127.0.0.1:<port>`: open the volunteer page here. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the proxy on a free port in front of `target` (`http://host:port`). */
export async function startIsolationStrippingProxy(target: string): Promise<IsolationStrippingProxy> {
  const upstream = new URL(target);
  const port = Number(upstream.port);
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const forward = request(
      { host: upstream.hostname, port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const headers = { ...answer.headers };
        for (const name of ISOLATION_HEADERS) delete headers[name];
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
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
    for (const s of [client, backend]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        backend.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
