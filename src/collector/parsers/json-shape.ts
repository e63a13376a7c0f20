// Reading parsed JSON of an unknown shape, one field at a time. Pure code.

/** `value` as an object, when it is one (not an array, not null). */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
