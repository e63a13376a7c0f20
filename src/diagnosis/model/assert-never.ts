/** The default branch of an exhaustive switch: a new union member is a compile error here. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
