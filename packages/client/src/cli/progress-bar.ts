/** The counts a bar shows; `done` of `total`, with the failed ones called out. */
export interface BarState {
  total: number;
  done: number;
  failed?: number;
  /** Shown after the counts, e.g. "running 42%". */
  label?: string;
}

/** One line: `[#########...........]  45%  9/20 done, 1 failed  label`. */
export function renderBar(state: BarState, width = 24): string {
  const fraction = state.total === 0 ? 1 : Math.min(1, Math.max(0, state.done / state.total));
  const filled = Math.round(fraction * width);
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const failed = state.failed ? `, ${state.failed} failed` : '';
  const label = state.label ? `  ${state.label}` : '';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}  ${state.done}/${state.total} done${failed}${label}`;
}

/**
 * A progress bar redrawn in place on a terminal (stderr, so stdout stays clean for output).
 * When the stream is not a TTY it draws nothing: logs and pipes do not want carriage returns.
 */
export class ProgressBar {
  readonly #write: (text: string) => void;
  readonly #enabled: boolean;
  #drawn = false;

  constructor(write: (text: string) => void, enabled: boolean) {
    this.#write = write;
    this.#enabled = enabled;
  }

  update(state: BarState): void {
    if (!this.#enabled) return;
    this.#write(`\r\x1b[2K${renderBar(state)}`);
    this.#drawn = true;
  }

  /** Ends the bar's line so that what follows starts on a fresh one. */
  finish(): void {
    if (this.#drawn) this.#write('\n');
    this.#drawn = false;
  }
}
