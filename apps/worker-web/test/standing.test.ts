import { decodeFrame, encodeFrame, type Frame_Payload, makeFrame } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import {
  NO_STANDING_TEXT,
  reportedStanding,
  StandingTracker,
  standingText,
  standingView,
  TRUST_STATUS_TEXT,
} from '../src/standing.ts';

/** A payload as the tab receives it: encoded by the protocol codec and decoded again. */
function overTheWire(payload: Frame_Payload): Frame_Payload {
  const decoded = decodeFrame(encodeFrame(makeFrame(payload))).payload;
  if (!decoded) throw new Error('frame without payload');
  return decoded;
}

describe('reportedStanding', () => {
  it('reads a welcome standing with every field set', () => {
    const payload = overTheWire({
      welcome: {
        worker_id: 'w-1',
        session_token: 't',
        heartbeat_ms: 1000,
        standing: {
          credit: 12.5,
          pending_credit: 0.75,
          valid_results: 7,
          invalid_results: 2,
          vetted: true,
          quarantined: false,
        },
      },
    });
    expect(reportedStanding(payload)).toEqual({
      credit: 12.5,
      pendingCredit: 0.75,
      validResults: 7,
      invalidResults: 2,
      status: 'vetted',
    });
  });

  it('a new worker (every field at its default, omitted on the wire) is new with zero credit', () => {
    const payload = overTheWire({ heartbeat_ack: { seq: 3, leases: [], standing: {} } });
    expect(reportedStanding(payload)).toEqual({
      credit: 0,
      pendingCredit: 0,
      validResults: 0,
      invalidResults: 0,
      status: 'new',
    });
  });

  it('quarantine wins over vetting (a vetted worker that later fails a check)', () => {
    const payload = overTheWire({
      heartbeat_ack: {
        seq: 1,
        standing: { vetted: true, quarantined: true, valid_results: 4, invalid_results: 1 },
      },
    });
    expect(reportedStanding(payload)).toMatchObject({
      status: 'quarantined',
      validResults: 4,
      invalidResults: 1,
    });
  });

  it('a coordinator that runs no spot checks reports unchecked; a verdict from before still wins', () => {
    const unchecked = overTheWire({ welcome: { worker_id: 'w-1', standing: { unchecked: true } } });
    expect(reportedStanding(unchecked)).toEqual({
      credit: 0,
      pendingCredit: 0,
      validResults: 0,
      invalidResults: 0,
      status: 'unchecked',
    });
    const ack = (standing: Record<string, boolean>) => overTheWire({ heartbeat_ack: { seq: 1, standing } });
    expect(reportedStanding(ack({ unchecked: true, quarantined: true }))?.status).toBe('quarantined');
    expect(reportedStanding(ack({ unchecked: true, vetted: true }))?.status).toBe('vetted');
  });

  it('frames without a standing, and frames of other kinds, report none', () => {
    expect(reportedStanding(overTheWire({ heartbeat_ack: { seq: 1, leases: [] } }))).toBeUndefined();
    expect(reportedStanding(overTheWire({ welcome: { worker_id: 'w-1' } }))).toBeUndefined();
    expect(reportedStanding(overTheWire({ result_ack: { task_id: 'a', lease_id: 'l' } }))).toBeUndefined();
  });
});

describe('StandingTracker', () => {
  it('is undefined until the first report, then follows welcome and each heartbeat_ack', () => {
    const tracker = new StandingTracker();
    expect(tracker.current).toBeUndefined();
    expect(tracker.observe(overTheWire({ welcome: { worker_id: 'w-1', standing: {} } }))).toBe(true);
    expect(tracker.current).toMatchObject({ credit: 0, status: 'new' });
    expect(
      tracker.observe(
        overTheWire({
          heartbeat_ack: { seq: 1, standing: { credit: 0.25, valid_results: 1, vetted: true } },
        }),
      ),
    ).toBe(true);
    expect(tracker.current).toEqual({
      credit: 0.25,
      pendingCredit: 0,
      validResults: 1,
      invalidResults: 0,
      status: 'vetted',
    });
  });

  it('reports no change for a repeated standing, and keeps the last one across frames that carry none', () => {
    const tracker = new StandingTracker();
    const ack = overTheWire({
      heartbeat_ack: { seq: 1, standing: { credit: 3, valid_results: 2, vetted: true } },
    });
    expect(tracker.observe(ack)).toBe(true);
    expect(
      tracker.observe(
        overTheWire({ heartbeat_ack: { seq: 2, standing: { credit: 3, valid_results: 2, vetted: true } } }),
      ),
    ).toBe(false);
    // The connection drops; the new welcome (from a coordinator that says nothing) keeps it.
    expect(tracker.observe(overTheWire({ welcome: { worker_id: 'w-1', resumed: true } }))).toBe(false);
    expect(tracker.observe(overTheWire({ heartbeat_ack: { seq: 1 } }))).toBe(false);
    expect(tracker.current).toMatchObject({ credit: 3, validResults: 2, status: 'vetted' });
    // A newer report replaces it, whatever it says.
    expect(
      tracker.observe(
        overTheWire({ welcome: { worker_id: 'w-1', standing: { quarantined: true, invalid_results: 1 } } }),
      ),
    ).toBe(true);
    expect(tracker.current).toEqual({
      credit: 0,
      pendingCredit: 0,
      validResults: 0,
      invalidResults: 1,
      status: 'quarantined',
    });
  });
});

describe('standingText', () => {
  it('shows dashes before the coordinator has reported', () => {
    expect(standingText(undefined)).toEqual(NO_STANDING_TEXT);
    expect(NO_STANDING_TEXT).toEqual({
      credit: '—',
      pendingCredit: '—',
      validResults: '—',
      invalidResults: '—',
      status: '—',
    });
  });

  it('formats credit like compute time and counts as integers', () => {
    expect(
      standingText(
        standingView({
          credit: 125.4,
          pending_credit: 0.26,
          valid_results: 31,
          invalid_results: 0,
          vetted: true,
        }),
      ),
    ).toEqual({
      credit: '2 min 5 s',
      pendingCredit: '0.3 s',
      validResults: '31',
      invalidResults: '0',
      status: TRUST_STATUS_TEXT.vetted,
    });
  });

  it('each status has its own line: not verified yet, verified, not counted with what may help', () => {
    expect(standingText(standingView({})).status).toBe(TRUST_STATUS_TEXT.new);
    // Not "checking": a device given only plain tasks is never sent a check.
    expect(TRUST_STATUS_TEXT.new).toMatch(/^not verified yet: the first verified task this device is given /);
    expect(TRUST_STATUS_TEXT.vetted).toMatch(/^verified/);
    expect(standingText(standingView({ unchecked: true })).status).toBe(
      'this coordinator does not spot-check volunteers: no known-answer task will come, and this ' +
        "device's results count when another volunteer's results agree with them",
    );
    const quarantined = standingText(standingView({ quarantined: true })).status;
    expect(quarantined).toBe(TRUST_STATUS_TEXT.quarantined);
    expect(quarantined).toMatch(
      /^this device's results no longer count: it returned a wrong answer to a verification task\./,
    );
    expect(quarantined).not.toMatch(/cheat|fraud|ban/i);
    expect(quarantined).toContain('a browser or driver update, or a different device, may help');
  });
});
