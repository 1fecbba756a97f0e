// One attacker for the hostile-traffic bench, in its own process (run niced by the parent, as a
// remote attacker's CPU is not the coordinator's). It attacks until killed, from a loopback
// address of its own (127.0.0.2 and up), so that per-address limits count it apart from the
// legitimate volunteers on 127.0.0.1.
//   tsx bench/hostile/attacker.ts <frames|heartbeats|capabilities|connections> <ws url> <local address>
import { encodeFrame, type Frame_Payload, makeFrame } from '@flock/protocol';
import WebSocket from 'ws';

const [kind, url, localAddress] = process.argv.slice(2) as [string, string, string];
/** Connections each flooding attack keeps open (each under its per-connection limits). */
const CONNECTIONS = 8;
/** Frames per second each connection sends: just under FLOCK_WORKER_RATE (2,000), so it is not cut off. */
const FRAMES_PER_SECOND = 1900;

const frame = (payload: Frame_Payload): Buffer =>
  Buffer.from(encodeFrame(makeFrame(payload), { maxFrameBytes: 1 << 20 }));
const hello = frame({ hello: { protocol_version: 1, capability: { cpu_slots: 0 }, client: 'attacker' } });
const ids = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** What each flooding connection sends, over and over. */
const FLOOD: Record<string, Buffer> = {
  // Small frames at the frame-rate limit.
  frames: frame({ heartbeat: { seq: 1, lease_ids: [] } }),
  // Heartbeats listing the most lease ids a worker may list (2 × FLOCK_MAX_SLOTS).
  heartbeats: frame({ heartbeat: { seq: 1, lease_ids: ids(64, 'l-forged-0000000000') } }),
  // Capabilities at their bounds, to be relayed to every operator's event stream.
  capabilities: frame({
    capability: {
      cpu_slots: 0,
      cached_modules: ids(256, `sha256:${'0'.repeat(56)}`),
      labels: Object.fromEntries(ids(32, 'label').map((k) => [k, 'x'.repeat(256)])),
      gpu: { features: ids(128, 'feature'), limits: ids(128, 'limit').map((name) => ({ name, value: 1 })) },
    },
  }),
};

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    ws.on('open', () => {
      ws.send(hello);
      resolve(ws);
    });
    ws.on('error', reject);
  });
}

/** Keeps CONNECTIONS connections sending `bytes` at FRAMES_PER_SECOND each; reopens closed ones. */
async function flood(bytes: Buffer): Promise<void> {
  const keep = async (): Promise<void> => {
    for (;;) {
      let ws: WebSocket;
      try {
        ws = await open();
      } catch {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      const tick = 10;
      const perTick = Math.ceil((FRAMES_PER_SECOND * tick) / 1000);
      const timer = setInterval(() => {
        // Only as fast as the coordinator reads: past that, TCP pushes back.
        if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 1 << 20) return;
        for (let i = 0; i < perTick; i++) ws.send(bytes);
      }, tick);
      await closed;
      clearInterval(timer);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, keep));
}

/** Opens connections as fast as it can: some held idle up to the cap, the rest hello and leave. */
async function connections(): Promise<void> {
  const held: WebSocket[] = [];
  const churn = async (): Promise<void> => {
    for (;;) {
      try {
        const ws = await open();
        if (held.length < 2000) held.push(ws);
        else ws.close();
      } catch {
        // Refused (429) or reset: try again at once, as a flood would.
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, churn));
}

if (kind === 'connections') await connections();
else if (FLOOD[kind]) await flood(FLOOD[kind]);
else throw new Error(`unknown attack "${kind}"`);
