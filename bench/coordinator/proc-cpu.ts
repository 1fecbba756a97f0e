// CPU time of processes and threads, from Linux's /proc (0 elsewhere): what the coordinator bench
// (run.ts) reads of the server under test, of its main thread alone, and of itself.
import { readdirSync, readFileSync } from 'node:fs';

/** utime + stime of a process, in seconds (Linux /proc; 0 elsewhere). */
export function cpuSeconds(pid: number | undefined, file = `/proc/${pid}/stat`): number {
  try {
    return threadCpu(readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
}

/** The CPU seconds of a process's main thread: its event loop, without V8's and libuv's helpers. */
export function mainThreadSeconds(pid: number | undefined): number {
  return cpuSeconds(pid, `/proc/${pid}/task/${pid}/stat`);
}

/** CPU seconds of each thread of a process, by thread id and name (Linux /proc). */
export function threadSeconds(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    out.set(`${tid} ${name}`, threadCpu(stat));
  }
  return out;
}

function threadCpu(stat: string): number {
  const fields = stat.split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** BENCH_THREADS=1: the coordinator's CPU per task by thread (the main thread is the first). */
export function printThreads(pid: number | undefined, atStart: Map<string, number>, tasks: number): void {
  for (const [thread, seconds] of threadSeconds(pid)) {
    const used = seconds - (atStart.get(thread) ?? 0);
    if (used > 0) console.log(`  thread ${thread}: ${((used * 1e6) / tasks).toFixed(0)} µs/task`);
  }
}

/** User + system CPU seconds this process used since `since` (all its threads). */
export function clientSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** CPU seconds of every process named `name` (e.g. a server and its backends). */
export function namedProcessesSeconds(name: string): number {
  let seconds = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === name) seconds += threadCpu(stat);
    } catch {
      // exited while read
    }
  }
  return seconds;
}
