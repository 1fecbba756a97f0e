// The thread that instruments modules for FuelThread (fuel-thread-client.ts): binaryen's work
// (hundreds of ms for a large module) must not stall the coordinator's event loop.
import { parentPort } from 'node:worker_threads';
import { FuelError } from './fuel-error.ts';
import { instrumentFuel } from './instrument.ts';

/** One module to instrument. */
export interface FuelRequest {
  id: number;
  bytes: Uint8Array;
}

/** The instrumented bytes, or why not. */
export type FuelReply =
  | { id: number; bytes: Uint8Array }
  | { id: number; error: { code: string; message: string } };

const port = parentPort;
if (!port) throw new Error('fuel-thread.ts runs as a worker thread (FuelThread starts it)');

port.on('message', ({ id, bytes }: FuelRequest) => {
  let reply: FuelReply;
  try {
    reply = { id, bytes: instrumentFuel(bytes, { existing: 'refuse' }) };
  } catch (error) {
    const code = error instanceof FuelError ? error.code : 'FAILED';
    reply = { id, error: { code, message: (error as Error).message } };
  }
  port.postMessage(reply, 'bytes' in reply ? [reply.bytes.buffer as ArrayBuffer] : []);
});
