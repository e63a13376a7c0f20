// The labels and annotations netdiag puts on what it creates (collector pods, snapshot ConfigMaps),
// and how an arbitrary string becomes a valid label value.

import { createHash } from 'node:crypto';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'netdiag';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
/** `<namespace>.<name>` of the NetworkDiagnosis (hashed when too long for a label value). */
export const LABEL_DIAGNOSIS = 'netdiag.io/diagnosis';
/** The node name (hashed when too long for a label value). */
export const LABEL_NODE = 'netdiag.io/node';
/** The unique id of one snapshot write: its chunks share it. */
export const LABEL_SNAPSHOT = 'netdiag.io/snapshot';

/** The full values, whatever their length, and the chunking facts of a snapshot ConfigMap. */
export const ANNOTATION_DIAGNOSIS = 'netdiag.io/diagnosis';
export const ANNOTATION_NODE = 'netdiag.io/node';
export const ANNOTATION_CHUNK = 'netdiag.io/chunk';
export const ANNOTATION_CHUNKS = 'netdiag.io/chunks';
export const ANNOTATION_SHA256 = 'netdiag.io/sha256';
export const ANNOTATION_SCHEMA_VERSION = 'netdiag.io/schema-version';
export const ANNOTATION_RAW_BYTES = 'netdiag.io/raw-bytes';
export const ANNOTATION_CREATED_AT = 'netdiag.io/created-at';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * A label value for `value`: itself when it is one (at most 63 characters of [A-Za-z0-9-_.],
 * alphanumeric at both ends), else a readable prefix and a hash of the whole. Deterministic, so a
 * reader selects with the same function; the full value goes into an annotation to check against.
 */
export function labelValueOf(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 16);
  const prefix = value
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .slice(0, 63 - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  return prefix === '' ? hash : `${prefix}-${hash}`;
}

/** `<namespace>.<name>` of a diagnosis, as labels and annotations name it. */
export function diagnosisKey(diagnosis: { readonly namespace: string; readonly name: string }): string {
  return `${diagnosis.namespace}.${diagnosis.name}`;
}

/** diagnosisKey's inverse: a namespace name has no dots, so the first dot ends it (the name may have some). */
export function parseDiagnosisKey(key: string | undefined): { readonly namespace: string; readonly name: string } | undefined {
  const dot = key?.indexOf('.') ?? -1;
  if (key === undefined || dot <= 0 || dot === key.length - 1) return undefined;
  return { namespace: key.slice(0, dot), name: key.slice(dot + 1) };
}
