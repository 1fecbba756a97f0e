// What this volunteer has earned, as the coordinator last reported it (apps/coordinator/TRUST.md,
// "Credit" and "Spot checks"): the welcome carries it, then every heartbeat_ack.
import type { Frame_Payload, Standing } from '@flock/protocol';
import { formatDuration } from './format-duration.ts';

/**
 * Where this device stands with the coordinator's verification:
 * - `new`: it has not passed a known-answer check yet (its first tasks include one);
 * - `vetted`: it passed one, so its results count toward quorums;
 * - `quarantined`: it failed one, so its results no longer count;
 * - `unchecked`: the coordinator runs no checks (`FLOCK_SPOT_CHECKS=off`), so nobody is vetted.
 */
export type TrustStatus = 'new' | 'vetted' | 'quarantined' | 'unchecked';

/** The standing with every default filled in (the wire omits zeros and falses). */
export interface StandingView {
  /** Device-weighted compute seconds of validated results. */
  credit: number;
  /** Device-weighted compute seconds of results believed alone, confirmed by the next passed check. */
  pendingCredit: number;
  /** Results that agreed with a quorum or matched a known answer. */
  validResults: number;
  /** Results that disagreed with the canonical result or failed a known-answer check. */
  invalidResults: number;
  status: TrustStatus;
}

/**
 * Fills in the defaults of a `Standing` from the wire. Quarantine wins (a verdict from when checks
 * ran is kept), then vetting, then a coordinator that runs no checks.
 */
export function standingView(standing: Standing): StandingView {
  return {
    credit: standing.credit ?? 0,
    pendingCredit: standing.pending_credit ?? 0,
    validResults: standing.valid_results ?? 0,
    invalidResults: standing.invalid_results ?? 0,
    status: standing.quarantined
      ? 'quarantined'
      : standing.vetted
        ? 'vetted'
        : standing.unchecked
          ? 'unchecked'
          : 'new',
  };
}

/**
 * The standing a frame reports: a welcome's or a heartbeat_ack's `standing`, or undefined when
 * the frame is of another kind or carries none (a coordinator that does not report it).
 */
export function reportedStanding(payload: Frame_Payload): StandingView | undefined {
  let standing: Standing | undefined;
  if ('welcome' in payload) standing = payload.welcome.standing;
  else if ('heartbeat_ack' in payload) standing = payload.heartbeat_ack.standing;
  return standing ? standingView(standing) : undefined;
}

/**
 * Keeps the last standing reported: undefined until the first, then replaced only by a newer
 * report, so it survives reconnects and frames that carry none.
 */
export class StandingTracker {
  private last: StandingView | undefined;

  get current(): StandingView | undefined {
    return this.last;
  }

  /** Takes the standing a frame reports, if any; returns whether what the page shows changed. */
  observe(payload: Frame_Payload): boolean {
    const next = reportedStanding(payload);
    if (!next) return false;
    const changed = JSON.stringify(next) !== JSON.stringify(this.last);
    this.last = next;
    return changed;
  }
}

/** The standing as the page's text: each field as it is shown, and the status line. */
export interface StandingText {
  credit: string;
  pendingCredit: string;
  validResults: string;
  invalidResults: string;
  status: string;
}

/** What the page shows before the coordinator has reported a standing. */
export const NO_STANDING_TEXT: StandingText = {
  credit: '—',
  pendingCredit: '—',
  validResults: '—',
  invalidResults: '—',
  status: '—',
};

/** The status line of each trust status; quarantine explains itself without blaming anyone. */
export const TRUST_STATUS_TEXT: Record<TrustStatus, string> = {
  // Checks come only before verified tasks (TRUST.md "Spot checks, live"): plain tasks never bring one.
  new:
    'not verified yet: the first verified task this device is given has a known answer, and its ' +
    'results start to count once it answers that correctly',
  vetted: 'verified: this device answered a check correctly, and its results count',
  // FLOCK_SPOT_CHECKS=off: no check will come, so "not verified yet" would wait forever.
  unchecked:
    'this coordinator does not spot-check volunteers: no known-answer task will come, and this ' +
    "device's results count when another volunteer's results agree with them",
  quarantined:
    "this device's results no longer count: it returned a wrong answer to a verification task. That " +
    'usually comes from the browser, the graphics driver or the hardware, not from anything you did; a ' +
    'browser or driver update, or a different device, may help.',
};

/** Formats a standing for the page: credit like compute time, counts as integers. */
export function standingText(view: StandingView | undefined): StandingText {
  if (!view) return NO_STANDING_TEXT;
  return {
    credit: formatDuration(view.credit * 1000),
    pendingCredit: formatDuration(view.pendingCredit * 1000),
    validResults: String(view.validResults),
    invalidResults: String(view.invalidResults),
    status: TRUST_STATUS_TEXT[view.status],
  };
}
