// What a failed FFmpeg run means, read from its exit and its log: the same rules for the WASM core
// and Debian's ffmpeg (both FFmpeg 5.1, so both print the same messages).
import { LibraryError } from '../library-error.ts';

/** How one FFmpeg run ended. */
export interface FfmpegRun {
  /** FFmpeg's exit status: 0 when it finished. */
  readonly exitCode: number;
  /** Its log (stderr and stdout): the first and the last few hundred lines. */
  readonly log: string;
  /** The files it wrote in its sandbox (the inputs left out), by name. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** Why it was ended before its end: a stop request's reason, TIMEOUT or OUTPUT_TOO_LARGE. */
  readonly stopped?: string;
  /** The engine itself failed (a WASM trap, a signal): its message. */
  readonly crash?: string;
}

const FORBIDDEN = /not on whitelist/;
const PIXELS = /exceeds specified max pixel count/;
const NO_STREAM = /Stream map '0:([av]):0' matches no streams/;
const EMPTY = /Output file is empty, nothing was encoded/;
const UNREADABLE =
  /Invalid data found when processing input|moov atom not found|corrupt input packet|Error while decoding stream|could not find codec parameters|Invalid PCM packet|partial file|End of file|does not contain any stream/;
const ENCODER = /Error while opening encoder|Error initializing output stream/;

/** The last lines of a log worth quoting (no progress lines, no stream dumps). */
function lastWords(log: string): string {
  const lines = log
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('frame=') && !l.startsWith('size=') && l !== 'Aborted()');
  return lines.slice(-3).join(' / ').slice(0, 500);
}

/** The LibraryError of a run that did not succeed; `input` is its position in the job. */
export function failureOf(run: FfmpegRun, input: number, timeoutMs: number): LibraryError {
  const field = `inputs[${input}]`;
  if (run.stopped === 'OUTPUT_TOO_LARGE')
    return new LibraryError('OUTPUT_TOO_LARGE', `${field}'s output passed the job's output limit`);
  if (run.stopped === 'TIMEOUT')
    return new LibraryError('LIBRARY_ERROR', `FFmpeg ran past the job's ${timeoutMs} ms limit on ${field}`);
  if (run.stopped !== undefined) return new LibraryError('LIBRARY_ERROR', `stopped (${run.stopped})`);
  if (run.crash !== undefined)
    return new LibraryError('LIBRARY_ERROR', `FFmpeg crashed on ${field}: ${run.crash}`);
  const log = run.log;
  if (FORBIDDEN.test(log)) {
    return new LibraryError(
      'FORBIDDEN',
      `${field} is a format that reads other files or URLs (a playlist, a concat list): refused`,
      field,
    );
  }
  if (PIXELS.test(log))
    return new LibraryError('PIXEL_LIMIT', `${field} has pictures larger than 4096×4096`, field);
  const missing = NO_STREAM.exec(log);
  if (missing) {
    const kind = missing[1] === 'a' ? 'audio' : 'video';
    return new LibraryError('INVALID_INPUT', `${field} has no ${kind} stream`, field);
  }
  if (UNREADABLE.test(log))
    return new LibraryError(
      'INVALID_INPUT',
      `${field} is not media FFmpeg can read: ${lastWords(log)}`,
      field,
    );
  if (ENCODER.test(log))
    return new LibraryError('INVALID_PARAMS', `the encoder refused the params: ${lastWords(log)}`, 'params');
  return new LibraryError('LIBRARY_ERROR', `FFmpeg failed on ${field}: ${lastWords(log)}`);
}

/** A run that exited 0 but encoded nothing (a start past the end, an empty stream). */
export function emptyOutput(run: FfmpegRun, input: number): LibraryError | undefined {
  if (!EMPTY.test(run.log)) return undefined;
  const field = `inputs[${input}]`;
  return new LibraryError(
    'INVALID_INPUT',
    `nothing of ${field} was encoded (is params.start past its end?)`,
    field,
  );
}
