import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ProtocolError } from '@flock/protocol';
import { WebSocket } from 'ws';
import { FlockClient } from '../flock-client.ts';
import { isFlockError } from '../flock-error.ts';
import { checkCommandOptions } from './command-options.ts';
import { type CliContext, COMMANDS, type CommandName } from './commands.ts';
import { EXIT, exitCodeFor, UsageError } from './exit-codes.ts';

/** Where the CLI reads and writes; `main` uses the process's by default, tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Draw the progress bar (stderr is a terminal). */
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  readStdin: () => Promise<string>;
}

export const USAGE = `flock: submit, watch and fetch Flock compute tasks

Usage: flock <command> [options]

Commands:
  submit <envelope.json|->     submit a ComputeEnvelope (JSON view); --wait to follow it to the end
                               and print its result, exiting as result does
  status <task_id>             show a task: state, progress, attempts, failure
  list                         list tasks, oldest first (--state STATE, --campaign ID)
  result <task_id>             print a task's outputs (--out DIR writes them as files; --wait)
  cancel <task_id>             cancel a queued or running task
  workers                      list volunteers, connected or not (GPU, cores, work, credit, trust)
  stats                        queue depth, throughput, latency, and each op's service level
  breakers                     circuit breakers of this key's ops (open ones hold their tasks)
  breakers reset <op>          close an op's breaker: its held tasks are queued again
  keys [list]                  this tenant's API keys (an admin key; --tenant T with an operator key)
  keys create <scope...>       make a key (read submit cancel admin can_submit:<op pattern>
                               can_subscribe:<channel pattern>);
                               prints its id and secret, shown once; --name N, --tenant T;
                               --signing: its tasks must be signed, its signing secret printed once
  keys revoke <key_id>         revoke a key: refused from then on
  map <input files...>         one task per input file: --wasm FILE | --wgsl FILE | --builtin OP |
                               --library OP (image.resize, data.query, crypto.hash, audio.transcode...)
                               ml.* ops (ml.infer, ml.embed, ml.classify) take .npy files: --batch N
                               rows per task; --out DIR joins each output back (data.logits.npy)
  model upload <model.onnx>    upload an ONNX model; prints its uri for ml.* --params '{"model":...}'
  workflow run <pipeline>      submit a workflow (.json, or .yaml/.yml); --wait follows its steps
  workflow status <id>         show a workflow: its state and each step's state, tasks, time, code
  audit                        the audit log: each transition with its hashes, worker and environment
                               (--task ID | --campaign ID, --since TIME, --tenant T with an operator key)
  replay --task ID             re-run a recorded task (or --campaign ID, --workflow ID) as
                               <id>@replay-<n>; --wait: compare output hashes, exit 1 if any differ
  replay status <replay_id>    a replay's pairs: both output hashes, equal or not
  webhooks <task_id>           the webhook deliveries of a task (or workflow) whose return_channel
                               is a URL: state, attempts, last status or error, next attempt
  webhooks failed              the tenant's failed (given up) webhook deliveries (--since TIME)
  webhooks redeliver <id>      post a failed delivery again (same Flock-Webhook-Id, attempts cleared)
  webhooks secret              the tenant's webhook signing secret (an admin key), for verifyWebhook

Options:
  --url URL          coordinator (env FLOCK_URL, default http://127.0.0.1:8787)
  --key KEY          API key (env FLOCK_API_KEY); env FLOCK_SIGNING_SECRET: sign every task
                     submitted with it (security.task_token, for keys configured with |sign:)
  --json             machine-readable output on stdout (no progress bar)
  --wait             submit/result: wait until the task ends
  --timeout MS       with --wait: give up waiting after MS milliseconds
  --out DIR          result/map: write outputs into DIR
  --capnp            submit: send the envelope as Cap'n Proto instead of JSON
  --traceparent H    submit, map: the W3C traceparent the tasks join (env TRACEPARENT); without
                     one the coordinator gives each a trace id (the result's correlation_id)
  --mount G=DIR      submit, map --wasm: pack local directory DIR as a tar input mounted at guest
                     path G (absolute; / allowed) in params.mounts; repeatable; sets wasi_fs
  --op NAME          map: envelope op (default: the --builtin op; "map" for a module)
  --params JSON      map: params object (library ops: checked against the method's schema first)
  --entry NAME       map: module entry point
  --input-name NAME  map: name of the input each file becomes (default "input"; built-in ops: e.g. x)
  --concurrency N    map: tasks in flight at once (default 4)
  --batch N          map, ml.* ops: rows (leading dimension) of an .npy file per task (default: all)
  --campaign ID      map: campaign id (default map-<16 hex>); list, audit, replay: that campaign
  --task ID          audit, replay: that task
  --workflow ID      replay: that workflow's step tasks
  --since TIME       audit, webhooks failed: rows at or after TIME (ISO 8601 or epoch ms)
  --state STATE      list: only tasks in STATE (queued, running, succeeded, failed, cancelled)
  --name N           keys create: a label for the key
  --tenant T         keys, keys create: another tenant (operator keys only)
  --signing          keys create: a signing key (FLOCK_SIGNING_SECRET=<its signing secret> to submit)
  -h, --help         this text

Exit codes: 0 ok, 1 task failed or cancelled, 2 usage or invalid request, 3 bad API key or scope,
4 not found, 5 coordinator unreachable, 6 --timeout passed before the task ended.
`;

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  out: { type: 'string' },
  capnp: { type: 'boolean' },
  traceparent: { type: 'string' },
  wasm: { type: 'string' },
  wgsl: { type: 'string' },
  builtin: { type: 'string' },
  library: { type: 'string' },
  op: { type: 'string' },
  params: { type: 'string' },
  entry: { type: 'string' },
  'input-name': { type: 'string' },
  mount: { type: 'string', multiple: true },
  concurrency: { type: 'string' },
  batch: { type: 'string' },
  campaign: { type: 'string' },
  task: { type: 'string' },
  workflow: { type: 'string' },
  since: { type: 'string' },
  state: { type: 'string' },
  name: { type: 'string' },
  tenant: { type: 'string' },
  signing: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type CliValues = ReturnType<typeof parseCommandLine>['values'];

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** Runs one `flock` command line and resolves with its exit code (see EXIT); never throws. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values, positionals } = parseCommandLine(argv);
    json = values.json === true;
    const [command, ...args] = positionals;
    if (values.help === true || command === undefined || command === 'help') {
      io.stdout(USAGE);
      return command === undefined && values.help !== true ? EXIT.usage : EXIT.ok;
    }
    if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command "${command}"`);
    checkCommandOptions(command as CommandName, values);
    const url = values.url ?? io.env['FLOCK_URL'] ?? 'http://127.0.0.1:8787';
    const apiKey = values.key ?? io.env['FLOCK_API_KEY'];
    if (apiKey === undefined || apiKey === '') {
      throw new UsageError('no API key: pass --key or set FLOCK_API_KEY');
    }
    let client: FlockClient;
    try {
      client = new FlockClient({
        url,
        apiKey,
        WebSocket,
        signingSecret: io.env['FLOCK_SIGNING_SECRET'],
        // Refused for now (a rate, a quota, a full queue): say so, wait its Retry-After, send again.
        onThrottle: (error, waitMs) =>
          io.stderr(
            `flock: ${error.code}: ${error.message}; trying again in ${Math.round(waitMs / 1000)} s\n`,
          ),
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const context: CliContext = { client, io, values, args, readInput };
    return await COMMANDS[command as CommandName](context);
  } catch (error) {
    const code = exitCodeFor(error);
    reportError(io, error, json);
    if (code === EXIT.usage && error instanceof UsageError) io.stderr('Run "flock --help" for usage.\n');
    return code;
  }

  async function readInput(path: string): Promise<string> {
    if (path === '-') return io.readStdin();
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
}

function reportError(io: CliIo, error: unknown, json: boolean): void {
  let code = 'ERROR';
  let message = error instanceof Error ? error.message : String(error);
  let field: string | undefined;
  if (isFlockError(error)) {
    code = error.code;
    field = error.field;
    if (error.code === 'UNAUTHENTICATED') message = `the API key was refused (${error.message})`;
    if (error.code === 'SIGNATURE_REQUIRED' || error.code === 'BAD_SIGNATURE')
      message = `${error.message} (set FLOCK_SIGNING_SECRET to this key's signing secret)`;
    if (error.code === 'NOT_READY') message = `${error.message}; add --wait to wait for the result`;
    if (error.retryAfterMs !== undefined) message = `${message} (retry after ${error.retryAfterMs / 1000} s)`;
  } else if (error instanceof ProtocolError) {
    code = error.code;
    field = error.field;
    message = `invalid envelope: ${error.message}`;
  } else if (error instanceof UsageError) {
    code = 'USAGE';
  }
  if (json) {
    io.stdout(`${JSON.stringify({ error: { code, message, ...(field === undefined ? {} : { field }) } })}\n`);
  } else {
    io.stderr(`flock: ${code}: ${message}${field === undefined ? '' : ` (field: ${field})`}\n`);
  }
}
