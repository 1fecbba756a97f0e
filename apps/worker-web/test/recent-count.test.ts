import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecentCount } from '../src/recent-count.ts';

describe('RecentCount', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the events of the last window only', () => {
    const recent = new RecentCount(60_000, () => {});
    recent.add();
    vi.advanceTimersByTime(30_000);
    recent.add();
    expect(recent.count()).toBe(2);
    expect(recent.count(1_000_000 + 59_999)).toBe(2);
    expect(recent.count(1_000_000 + 60_000)).toBe(1);
    expect(recent.count(1_000_000 + 90_000)).toBe(0);
  });

  it('says so each time an event leaves the window, though nothing else happens', () => {
    const counts: number[] = [];
    const recent = new RecentCount(60_000, () => counts.push(recent.count()));
    recent.add();
    vi.advanceTimersByTime(10_000);
    recent.add();
    recent.add();
    vi.advanceTimersByTime(49_999);
    expect(counts).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(counts).toEqual([2]);
    vi.advanceTimersByTime(10_000);
    expect(counts).toEqual([2, 0]);
    // Idle: no timer left, nothing more is said.
    vi.advanceTimersByTime(600_000);
    expect(counts).toEqual([2, 0]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer however many events come', () => {
    const recent = new RecentCount(60_000, () => {});
    for (let i = 0; i < 1000; i++) recent.add();
    expect(vi.getTimerCount()).toBe(1);
    expect(recent.count()).toBe(1000);
  });
});
