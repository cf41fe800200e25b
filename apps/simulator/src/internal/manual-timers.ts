import type { Timers } from './replica.js';

/** Virtual timers for tests: time moves only through `advance`, events fire in time order (then FIFO). */
export class ManualTimers implements Timers {
  private t = 0;
  private nextId = 0;
  private readonly events: { at: number; id: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): () => void {
    const ev = { at: this.t + Math.max(0, ms), id: this.nextId++, fn };
    this.events.push(ev);
    return () => {
      const i = this.events.indexOf(ev);
      if (i >= 0) this.events.splice(i, 1);
    };
  }

  /** Runs every event due within `ms`, letting promise continuations settle between events. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      this.events.sort((a, b) => a.at - b.at || a.id - b.id);
      const ev = this.events[0];
      if (ev === undefined || ev.at > end) break;
      this.events.shift();
      this.t = ev.at;
      ev.fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
