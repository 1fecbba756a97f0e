import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** A WebSocket spoken by hand over TCP, to send frames no well-behaved client would. */
export interface RawWs {
  socket: Socket;
  /** Writes one frame: FIN, `rsv` bits (1..7), `opcode`, masked unless `mask` is false. */
  frame(opcode: number, payload: Uint8Array, options?: { rsv?: number; mask?: boolean }): void;
  /** Resolves with the close code of the server's close frame, or 1006 if the TCP side closes first. */
  closed: Promise<number>;
}

/**
 * Opens `path` on `url` (an `http://host:port` base) with a real handshake and resolves once the
 * server answered 101. `headers` are added to the upgrade request. Rejects with the status line
 * when the upgrade is refused.
 */
export function openRawWs(url: string, path: string, headers: Record<string, string> = {}): Promise<RawWs> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let resolveClosed!: (code: number) => void;
    const closed = new Promise<number>((r) => {
      resolveClosed = r;
    });
    socket.on('error', () => resolveClosed(1006));
    socket.on('close', () => {
      resolveClosed(1006);
      if (!upgraded)
        reject(new Error(`closed before upgrade: ${buffer.toString('latin1').split('\r\n')[0]}`));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) {
          reject(new Error(head.split('\r\n')[0]));
          socket.destroy();
          return;
        }
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        resolve({ socket, frame, closed });
      }
      // Server frames are unmasked; a close frame (0x8) carries the code in its first two bytes.
      while (buffer.length >= 2) {
        const opcode = buffer[0]! & 0x0f;
        let length = buffer[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 0x8) resolveClosed(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
      }
    });
    const frame = (
      opcode: number,
      payload: Uint8Array,
      options: { rsv?: number; mask?: boolean } = {},
    ): void => {
      const masked = options.mask !== false;
      const head: number[] = [0x80 | ((options.rsv ?? 0) << 4) | opcode];
      const len = payload.length;
      const maskBit = masked ? 0x80 : 0;
      if (len < 126) head.push(maskBit | len);
      else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff);
      else {
        head.push(maskBit | 127, 0, 0, 0, 0);
        head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
      }
      if (!masked) {
        socket.write(Buffer.concat([Buffer.from(head), payload]));
        return;
      }
      const mask = randomBytes(4);
      const body = Buffer.from(payload);
      for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i & 3]!;
      socket.write(Buffer.concat([Buffer.from(head), mask, body]));
    };
    socket.on('connect', () => {
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      );
    });
  });
}
