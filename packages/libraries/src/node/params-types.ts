// TypeScript types of every method's params, written from the schemas (../params.ts) so the SDK's
// typed helpers (`client.library('image.resize', { width: 800 }, files)`) follow the declarations.
// packages/client/scripts/gen-library-params.ts writes them to packages/client/src/generated/library-params.ts;
// a client test fails when that file is stale.
import type { MethodDefinition } from '../method.ts';
import { opOf } from '../method.ts';
import type { ParamSpec } from '../params.ts';

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const key = (name: string): string => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

/** The doc line of a field: its own doc plus range and default, as a JSDoc comment. */
function docOf(spec: ParamSpec, pad: string): string {
  const notes: string[] = [];
  if (
    (spec.type === 'integer' || spec.type === 'number') &&
    (spec.min !== undefined || spec.max !== undefined)
  )
    notes.push(`${spec.min ?? '−∞'}..${spec.max ?? '∞'}`);
  if ('default' in spec && spec.default !== undefined) notes.push(`default ${JSON.stringify(spec.default)}`);
  const text = notes.length === 0 ? spec.doc : `${spec.doc} (${notes.join('; ')})`;
  return `${pad}/** ${text.replaceAll('*/', '*∕')} */\n`;
}

function fieldsType(
  fields: Readonly<Record<string, ParamSpec>>,
  required: readonly string[],
  depth: number,
): string {
  const pad = '  '.repeat(depth + 1);
  const lines = Object.entries(fields).map(
    ([name, spec]) =>
      `${docOf(spec, pad)}${pad}${key(name)}${required.includes(name) ? '' : '?'}: ${typeOf(spec, depth + 1)};\n`,
  );
  return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('')}${'  '.repeat(depth)}}`;
}

function typeOf(spec: ParamSpec, depth: number): string {
  switch (spec.type) {
    case 'integer':
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return spec.values.map((v) => JSON.stringify(v)).join(' | ');
    case 'array': {
      const item = typeOf(spec.items, depth);
      return `ReadonlyArray<${item}>`;
    }
    case 'object':
      return fieldsType(spec.fields, spec.required ?? [], depth);
    case 'map':
      return `Readonly<Record<string, ${typeOf(spec.values, depth)}>>`;
  }
}

/** The source of `library-params.ts`: one `LibraryParams` entry per method, in declaration order. */
export function paramsTypesSource(methods: Iterable<MethodDefinition>): string {
  const entries = [...methods].map(
    (m) =>
      `  /** ${m.doc} */\n  ${JSON.stringify(opOf(m))}: ${fieldsType(m.params.fields, m.params.required ?? [], 1)};\n`,
  );
  return [
    '// Generated from the method schemas of @flock/libraries by',
    '// `npx tsx packages/client/scripts/gen-library-params.ts`: do not edit by hand.',
    '',
    '/** The params of each library op, as its schema declares them (defaults filled in by the coordinator). */',
    'export interface LibraryParams {',
    entries.join(''),
    '}',
    '',
    '/** Every library op, `<library>.<method>`. */',
    'export type LibraryOp = keyof LibraryParams;',
    '',
  ].join('\n');
}
