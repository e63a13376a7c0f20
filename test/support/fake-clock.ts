// A clock that moves only when told to, for code that takes an injected clock (the work queue,
// the informers): timers fire in due order inside advance(), and every delay asked for is recorded.

/** The timer handle type the injected clocks accept. */
export type FakeTimer = ReturnType<typeof globalThis.setTimeout> | number;

export class FakeClock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, { dueAt: number; callback: () => void }>();
  /** Delays passed to setTimeout, in order. */
  readonly delays: number[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): FakeTimer {
    const id = this.nextId++;
    this.timers.set(id, { dueAt: this.time + delayMs, callback });
    this.delays.push(delayMs);
    return id;
  }

  clearTimeout(handle: FakeTimer): void {
    this.timers.delete(handle as number);
  }

  /** Timers set and not yet fired or cleared. */
  pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { dueAt: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].dueAt <= end && (next === undefined || entry[1].dueAt < next[1].dueAt)) next = entry;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.time = next[1].dueAt;
      next[1].callback();
    }
    this.time = end;
  }
}
