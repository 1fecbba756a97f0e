// biome-ignore-all lint/suspicious/noTemplateCurlyInString: workflow references are `${…}` in plain strings
// References between a workflow's steps (`${steps.<id>.outputs.<name>}`, `${steps.<id>.summary.<key>}`,
// `${item}` in a for_each step) and `when` conditions over summaries: parsed at submit, evaluated
// by the advancer. Pure functions, no I/O.

/** A reference to an earlier step's output or summary entry, or to a for_each branch's item. */
export type StepRef =
  | { kind: 'output'; step: string; name: string }
  | { kind: 'outputs'; step: string }
  | { kind: 'summary'; step: string; key: string }
  | { kind: 'item' };

export type CompareOp = '<' | '<=' | '==' | '!=' | '>=' | '>';

/** One side of a condition: a summary reference or a literal (number or string). */
export type Operand = { ref: StepRef & { kind: 'summary' } } | { literal: string };

export interface Condition {
  left: Operand;
  op: CompareOp;
  right: Operand;
}

const STEP_ID = '[A-Za-z][A-Za-z0-9_-]{0,63}';
const NAME = '[^${}]{1,200}';
/** Every `${…}` in a string (a reference or a typo, which the parser then refuses). */
const PLACEHOLDER = /\$\{([^}]*)\}/g;
const OUTPUT = new RegExp(`^steps\\.(${STEP_ID})\\.outputs\\.(${NAME})$`);
const OUTPUTS = new RegExp(`^steps\\.(${STEP_ID})\\.outputs$`);
const SUMMARY = new RegExp(`^steps\\.(${STEP_ID})\\.summary\\.(${NAME})$`);

/** The reference inside one `${…}`, or undefined when it is none of the forms. */
export function parseRef(body: string): StepRef | undefined {
  if (body === 'item') return { kind: 'item' };
  let m = OUTPUT.exec(body);
  if (m) return { kind: 'output', step: m[1]!, name: m[2]! };
  m = OUTPUTS.exec(body);
  if (m) return { kind: 'outputs', step: m[1]! };
  m = SUMMARY.exec(body);
  if (m) return { kind: 'summary', step: m[1]!, key: m[2]! };
  return undefined;
}

/** The placeholders of a string, in order, with the reference each names (undefined: malformed). */
export function placeholders(text: string): Array<{ text: string; ref: StepRef | undefined }> {
  return [...text.matchAll(PLACEHOLDER)].map((m) => ({ text: m[0], ref: parseRef(m[1]!) }));
}

/** The reference when `text` is exactly one placeholder (`"${steps.a.outputs.x}"`), else undefined. */
export function wholeRef(text: string): StepRef | undefined {
  const m = /^\$\{([^}]*)\}$/.exec(text);
  return m ? parseRef(m[1]!) : undefined;
}

/** Replaces each placeholder of `text` with `value(ref)`. */
export function substitute(text: string, value: (ref: StepRef) => string): string {
  return text.replace(PLACEHOLDER, (_all, body: string) => value(parseRef(body)!));
}

const OPERAND = String.raw`(\$\{[^}]*\}|"[^"]*"|[^\s<>=!"]+)`;
const COMPARE = new RegExp(String.raw`^\s*${OPERAND}\s*(<=|>=|==|!=|<|>)\s*${OPERAND}\s*$`);
const LITERAL = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|"[^"]*"|[A-Za-z0-9_.-]+)$/;

/** A condition such as `${steps.a.summary.n} < 10`; throws a message when it is malformed. */
export function parseCondition(text: string): Condition {
  const m = COMPARE.exec(text);
  if (!m) throw new Error('expected <operand> <op> <operand>, op one of < <= == != >= >');
  return { left: parseOperand(m[1]!), op: m[2] as CompareOp, right: parseOperand(m[3]!) };
}

function parseOperand(text: string): Operand {
  const ref = wholeRef(text);
  if (ref) {
    if (ref.kind !== 'summary') throw new Error(`a condition compares summaries, not ${text}`);
    return { ref };
  }
  if (text.includes('${')) throw new Error(`malformed reference ${text}`);
  if (!LITERAL.test(text)) throw new Error(`bad operand ${text} (a number, "text" or a word)`);
  return { literal: text.startsWith('"') ? text.slice(1, -1) : text };
}

/** Compares as numbers when both sides are numbers, else as strings. */
export function compare(left: string, op: CompareOp, right: string): boolean {
  const a = Number(left);
  const b = Number(right);
  const numeric = left.trim() !== '' && right.trim() !== '' && Number.isFinite(a) && Number.isFinite(b);
  const c = numeric ? Math.sign(a - b) : left < right ? -1 : left > right ? 1 : 0;
  switch (op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '==':
      return c === 0;
    case '!=':
      return c !== 0;
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
  }
}

/** The steps a condition reads. */
export function conditionSteps(c: Condition): string[] {
  return [c.left, c.right].flatMap((o) => ('ref' in o ? [o.ref.step] : []));
}
