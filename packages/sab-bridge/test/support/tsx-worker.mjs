// Worker entry that runs a TypeScript module on a worker thread: Node 20 does not apply
// `--import tsx` from Worker execArgv to the entry module, so this registers tsx, then imports it.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
