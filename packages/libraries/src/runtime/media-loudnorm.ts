// audio.normalize's two passes with FFmpeg's loudnorm: the first measures (print_format=json), the
// second applies the targets with the measured values, which lets loudnorm use one linear gain
// when the targets allow it. Only numbers that parse as plain decimals inside loudnorm's own
// option ranges go back onto the command line.

/** What the measuring pass reported. */
export interface LoudnormMeasure {
  /** The input's sample rate (loudnorm works at 192 kHz; the output goes back to this). */
  sampleRate?: number;
  /** Measured values, present when all parse (a silent input measures -inf: dynamic mode then). */
  values?: {
    input_i: string;
    input_tp: string;
    input_lra: string;
    input_thresh: string;
    target_offset: string;
  };
}

/** loudnorm's option ranges for the measured values (FFmpeg 5.1 af_loudnorm.c). */
const RANGES = {
  input_i: [-99, 0],
  input_tp: [-99, 99],
  input_lra: [0, 99],
  input_thresh: [-99, 0],
  target_offset: [-99, 99],
} as const;
const DECIMAL = /^-?\d{1,3}(\.\d{1,6})?$/;

/** Reads the measuring pass's log: the first audio stream's rate and loudnorm's JSON. */
export function parseLoudnorm(log: string): LoudnormMeasure {
  const out: LoudnormMeasure = {};
  const stream = /Stream #0:\d+[^\n]*: Audio: [^\n]*?, (\d{4,6}) Hz/.exec(log);
  if (stream) out.sampleRate = Number(stream[1]);
  const values: Record<string, string> = {};
  for (const [key, [min, max]] of Object.entries(RANGES)) {
    const match = new RegExp(`"${key}" : "([^"]*)"`).exec(log);
    const text = match?.[1];
    if (text === undefined || !DECIMAL.test(text)) return out;
    const value = Number(text);
    if (value < min || value > max) return out;
    values[key] = text;
  }
  out.values = values as NonNullable<LoudnormMeasure['values']>;
  return out;
}

/**
 * The loudnorm filter: measuring (no `measured`), or applying with what was measured. `targets` is
 * `I=…:TP=…:LRA=…` with the checked params.
 */
export function loudnormFilter(targets: string, linear: boolean, measured?: LoudnormMeasure): string {
  if (measured === undefined) return `loudnorm=${targets}:print_format=json`;
  const v = measured.values;
  const given = v
    ? `:measured_I=${v.input_i}:measured_TP=${v.input_tp}:measured_LRA=${v.input_lra}:measured_thresh=${v.input_thresh}:offset=${v.target_offset}`
    : '';
  return `loudnorm=${targets}${given}:linear=${linear}:print_format=summary`;
}

/** The summary line of one input: its measured loudness. */
export function loudnormSummary(measured: LoudnormMeasure): string {
  const v = measured.values;
  if (!v) return 'silent or too short to measure: normalized dynamically';
  return `input ${v.input_i} LUFS, true peak ${v.input_tp} dBTP, LRA ${v.input_lra} LU`;
}
