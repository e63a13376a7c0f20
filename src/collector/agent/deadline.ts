// The whole run's deadline: one instant every part of the collection checks against.

export interface Deadline {
  /** Epoch ms at which the run must end. */
  readonly at: number;
  remainingMs(): number;
  expired(): boolean;
}

export function createDeadline(durationMs: number, now: number = Date.now()): Deadline {
  const at = now + durationMs;
  return {
    at,
    remainingMs: () => at - Date.now(),
    expired: () => Date.now() >= at,
  };
}
