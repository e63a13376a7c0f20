// What the engine did not understand. A warning never silently changes a result: whatever it may
// affect is reported Inconclusive by the caller.

export interface Warning {
  /** Stable, machine-readable kind, e.g. `unknown-match`, `unsupported-route-type`. */
  readonly code: string;
  readonly message: string;
  /** Where the thing came from: a file and line, a table and chain, a route. */
  readonly source?: string;
}
