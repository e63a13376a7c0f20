// Validation of snapshots against the published JSON Schema (schemas/snapshot.schema.json), with
// ajv in strict draft 2020-12 mode, for the tests that produce real snapshots.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

export const SNAPSHOT_SCHEMA_PATH = join(import.meta.dirname, '..', '..', 'schemas', 'snapshot.schema.json');

export function loadSnapshotSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(SNAPSHOT_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
}

let validator: ValidateFunction | undefined;

/** The schema's errors for `value` (instance path and message), empty when it is valid. */
export function snapshotSchemaErrors(value: unknown): string[] {
  if (validator === undefined) {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    // RFC 3339 as the agent writes it (Date.toISOString); ajv-formats is not needed for one format.
    ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    validator = ajv.compile(loadSnapshotSchema());
  }
  if (validator(value)) return [];
  return (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
