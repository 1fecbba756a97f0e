// Moves a seeded record stream out through one ring while verifying the stream coming in on the
// other; both threads of threads.test.ts run it (with the seeds swapped).
import type { Ring } from '../../src/index.ts';
import { fillRecord, recordLength } from './rng.ts';

export interface PeerInput {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  count: number;
  inSeed: number;
  outSeed: number;
  maxExtra: number;
}

export interface PeerReport {
  received: number;
  sent: number;
  errors: number;
  firstError: string;
}

export function run(rx: Ring, tx: Ring, rxSeed: number, txSeed: number, count: number, maxExtra: number) {
  const out = new Uint8Array(4 + maxExtra);
  const got = new Uint8Array(4 + maxExtra);
  const want = new Uint8Array(4 + maxExtra);
  const r: PeerReport = { received: 0, sent: 0, errors: 0, firstError: '' };
  let pending = -1; // length of the record built but not yet pushed
  while (r.received < count || r.sent < count) {
    let moved = false;
    if (r.sent < count) {
      if (pending < 0) {
        pending = recordLength(txSeed, r.sent, maxExtra);
        const rec = out.subarray(0, pending);
        fillRecord(rec, txSeed, r.sent);
        new DataView(rec.buffer, rec.byteOffset).setUint32(0, r.sent, true);
      }
      if (tx.push(out.subarray(0, pending))) {
        r.sent++;
        pending = -1;
        moved = true;
      }
    }
    if (r.received < count) {
      const n = rx.popInto(got);
      if (n >= 0) {
        const seq = r.received;
        const len = recordLength(rxSeed, seq, maxExtra);
        const w = want.subarray(0, len);
        fillRecord(w, rxSeed, seq);
        new DataView(w.buffer, w.byteOffset).setUint32(0, seq, true);
        let ok = n === len;
        for (let i = 0; ok && i < len; i++) ok = got[i] === w[i];
        if (!ok) {
          r.errors++;
          if (!r.firstError) r.firstError = `record ${seq}: length ${n} (want ${len}) or bytes differ`;
        }
        r.received++;
        moved = true;
      }
    }
    // Nothing moved: the outgoing ring is full and the incoming one empty. Sleep on the incoming
    // ring's data epoch while the peer still sends (its pushes wake us), else on the outgoing
    // ring's space epoch; the timeout covers the event we are not sleeping on.
    if (!moved) {
      if (r.received < count) rx.waitForData(2);
      else tx.waitForSpace(pending, 2);
    }
  }
  return r;
}
