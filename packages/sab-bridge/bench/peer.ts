// The executor side of the benchmarks, for a Node worker thread and a browser Worker alike.
// Ring benchmarks block in Atomics.wait (allowed in workers) until a stop record arrives;
// postMessage benchmarks answer message events.
import { attach, type Bridge, handleOf, popRecord, pushRecord } from '../src/index.ts';

/** What a peer needs from its host: post to the main side and hear from it. */
export interface PeerPort {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Wraps a MessagePort that the main side transferred (the MessageChannel baseline). */
  wrap(port: unknown): PeerPort;
}

export type PeerCommand =
  | { t: 'attach'; buffer: SharedArrayBuffer; byteOffset: number }
  | { t: 'port'; port: unknown }
  | { t: 'ring-echo'; spin: number }
  | { t: 'record-echo'; spin: number }
  | { t: 'arena-ack'; spin: number }
  | { t: 'echo'; d: Uint8Array }
  | { t: 'bulk'; d: Uint8Array }
  | { t: 'bulk-xfer'; d: Uint8Array };

/** Touches the first, middle and last byte: proof of delivery without a full scan. */
export function touch(d: Uint8Array): number {
  return d[0]! + d[d.length >> 1]! + d[d.length - 1]!;
}

export function servePeer(port: PeerPort): void {
  let bridge: Bridge | undefined;
  port.onMessage((raw) => {
    const m = raw as PeerCommand;
    switch (m.t) {
      case 'attach':
        bridge = attach(m.buffer, m.byteOffset);
        port.post('attached');
        return;
      case 'port':
        servePeer(port.wrap(m.port));
        port.post('port-ready');
        return;
      case 'echo':
        port.post({ t: 'echo', d: m.d });
        return;
      case 'bulk':
        port.post({ t: 'ack', n: touch(m.d) });
        return;
      case 'bulk-xfer':
        touch(m.d);
        port.post({ t: 'xfer', d: m.d }, [m.d.buffer as ArrayBuffer]);
        return;
      default:
        port.post('started');
        port.post({ t: 'done', n: ringLoop(bridge!, m) });
    }
  });
}

/** Serves ring records until an empty record (or a 'cancel' record) says stop; returns how many. */
function ringLoop(b: Bridge, m: { t: 'ring-echo' | 'record-echo' | 'arena-ack'; spin: number }): number {
  const buf = new Uint8Array(4096);
  let served = 0;
  for (;;) {
    if (b.inbox.waitForData(60_000, m.spin) !== 'ok') return served;
    if (m.t === 'ring-echo') {
      const n = b.inbox.popInto(buf);
      if (n === 0) return served;
      while (!b.outbox.push(buf.subarray(0, n))) b.outbox.waitForSpace(n, 1000, m.spin);
    } else {
      const rec = popRecord(b.inbox)!;
      if (rec.kind === 'cancel') return served;
      if (m.t === 'record-echo') {
        pushRecord(b.outbox, {
          kind: 'progress',
          job_id: rec.job_id ?? 0,
          task_id: rec.task_id ?? '',
          pct: rec.pct ?? 0,
        });
      } else {
        const view = b.arena.bytes(handleOf(rec.slices![0]!)); // where the bytes lie: no copy
        pushRecord(b.outbox, { kind: 'result', job_id: touch(view) });
      }
    }
    served++;
  }
}
