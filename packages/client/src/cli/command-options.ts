// Which options each `flock` command reads: any other one is a usage error rather than a flag
// silently ignored (`flock map --timeout 1000` used to run to the end without a word).
import type { CommandName } from './commands.ts';
import { UsageError } from './exit-codes.ts';
import type { CliValues } from './main.ts';

type OptionName = keyof CliValues;

/** Read by every command: where, who, how to print. */
const GLOBAL: readonly OptionName[] = ['url', 'key', 'json', 'help'];

/** The options each command reads besides the global ones. */
export const COMMAND_OPTIONS: Readonly<Record<CommandName, readonly OptionName[]>> = {
  submit: ['wait', 'timeout', 'capnp', 'traceparent', 'mount'],
  status: [],
  list: ['state', 'campaign'],
  result: ['wait', 'timeout', 'out'],
  cancel: [],
  workers: [],
  stats: [],
  breakers: [],
  keys: ['name', 'tenant', 'signing'],
  map: [
    'wasm',
    'wgsl',
    'builtin',
    'library',
    'op',
    'params',
    'entry',
    'input-name',
    'mount',
    'concurrency',
    'batch',
    'campaign',
    'out',
    'traceparent',
  ],
  model: [],
  workflow: ['wait', 'timeout'],
  audit: ['task', 'campaign', 'since', 'tenant'],
  replay: ['task', 'campaign', 'workflow', 'wait', 'timeout'],
  webhooks: ['since'],
};

/**
 * Throws a UsageError naming the first option given that `command` does not read, or `--timeout`
 * without `--wait` (only a wait can time out).
 */
export function checkCommandOptions(command: CommandName, values: CliValues): void {
  const allowed = COMMAND_OPTIONS[command];
  for (const [name, value] of Object.entries(values) as [OptionName, unknown][]) {
    if (value === undefined || GLOBAL.includes(name) || allowed.includes(name)) continue;
    const takes = allowed.length === 0 ? 'none' : allowed.map((o) => `--${o}`).join(', ');
    throw new UsageError(`--${name} does not apply to ${command} (its options: ${takes})`);
  }
  if (values.timeout !== undefined && values.wait !== true) {
    throw new UsageError(`--timeout needs --wait (${command} only waits with --wait)`);
  }
}
