import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { EventsHub, type TaskEvent } from '../src/edge/events-hub.ts';

/** A socket that records what it is sent. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  send(text: string): void {
    this.sent.push(text);
  }
  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
}

function event(state: TaskEvent['state'], returnChannel?: string): TaskEvent {
  return {
    topic: state === 'succeeded' ? 'compute:dispatch:v1:success' : 'compute:dispatch:v1:accepted',
    tenant: 't',
    taskId: 'task-1',
    campaignId: undefined,
    returnChannel,
    state,
    tsMs: 0,
    payload: () => ({ ok: true }),
  };
}

describe('EventsHub.wants', () => {
  it('is false while nobody listens: no subscriber, no webhooks', () => {
    const hub = new EventsHub(1 << 20);
    expect(hub.wants('running', undefined)).toBe(false);
    expect(hub.wants('succeeded', 'https://example.test/hook')).toBe(false);
  });

  it('is true for the terminal events of a task with a return channel once webhooks listen', () => {
    const hub = new EventsHub(1 << 20);
    const told: string[] = [];
    hub.onTerminal = (e) => told.push(`${e.taskId} ${e.state}`);
    expect(hub.wants('succeeded', 'https://example.test/hook')).toBe(true);
    expect(hub.wants('failed', 'ch')).toBe(true);
    expect(hub.wants('cancelled', 'ch')).toBe(true);
    expect(hub.wants('running', 'ch')).toBe(false);
    expect(hub.wants('queued', 'ch')).toBe(false);
    expect(hub.wants('succeeded', undefined)).toBe(false);
    hub.publish(event('succeeded', 'ch'));
    expect(told).toEqual(['task-1 succeeded']);
  });

  it('is true while a subscriber is open, of any tenant, and false again once it closes', () => {
    const hub = new EventsHub(1 << 20);
    const socket = new FakeSocket();
    hub.subscribe(socket as unknown as WebSocket, { tenant: 'other' });
    expect(hub.wants('running', undefined)).toBe(true);
    socket.close();
    expect(hub.wants('running', undefined)).toBe(false);
  });

  it('is always true for a hub whose publish a subclass overrides (it sees every event)', () => {
    class Recording extends EventsHub {
      readonly seen: string[] = [];
      override publish(e: TaskEvent): void {
        this.seen.push(e.state);
        super.publish(e);
      }
    }
    const hub = new Recording(1 << 20);
    expect(hub.wants('running', undefined)).toBe(true);
    expect(hub.wants('queued', undefined)).toBe(true);
    expect(new EventsHub(1 << 20).wants('queued', undefined)).toBe(false);
  });

  it('is true while a spy stands in for publish, and false once it is restored', () => {
    const hub = new EventsHub(1 << 20);
    const spy = vi.spyOn(hub, 'publish');
    expect(hub.wants('running', undefined)).toBe(true);
    spy.mockRestore();
    expect(hub.wants('running', undefined)).toBe(false);
  });
});
