import { describe, expect, it } from 'vitest';
import { activityText } from '../src/activity.ts';

describe('activityText', () => {
  it('gives the reason the tab takes no work first', () => {
    expect(activityText('paused by the volunteer', 'open', 1)).toBe('paused by the volunteer');
    expect(activityText('not started', 'closed', 0)).toBe('not started');
  });

  it('says "working" while a job runs, connected or not', () => {
    expect(activityText(null, 'open', 2)).toBe('working');
    expect(activityText(null, 'reconnecting', 1)).toBe('working');
  });

  it('waits for work only when connected, else for the coordinator', () => {
    expect(activityText(null, 'open', 0)).toBe('waiting for work');
    expect(activityText(null, 'connecting', 0)).toBe('waiting for the coordinator');
    expect(activityText(null, 'reconnecting', 0)).toBe('waiting for the coordinator');
  });

  it('says it stopped when the coordinator refused the tab for good', () => {
    expect(activityText(null, 'refused', 0)).toBe('stopped: the coordinator refused this tab');
  });
});
