// The one way a NetworkDiagnosis's status is written: compare the desired status with the one the
// API server holds, and when they differ send the difference as a JSON merge patch (RFC 7396) to
// the /status subresource. A merge patch works on an object with no status yet (a JSON patch would
// fail on the missing path) and never touches the spec. Arrays are replaced whole; a field the
// desired status no longer has is sent as null, which removes it.

import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/v1alpha1/group.js';
import type { NetworkDiagnosisStatus } from '../api/v1alpha1/types.js';
import { callApi, type RetryOptions } from './retry.js';

export interface ObjectRef {
  readonly namespace: string;
  readonly name: string;
}

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The keys of an object whose value is not undefined (undefined is absent, as in JSON). */
function presentKeys(value: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(value).filter((k) => value[k] !== undefined);
}

/** Deep equality of JSON values: key order ignored, a key holding undefined the same as no key. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = presentKeys(a);
    if (keys.length !== presentKeys(b).length) return false;
    return keys.every((k) => b[k] !== undefined && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** A value with the undefined members of its objects left out (what would go over the wire). */
function toJson(value: unknown): Json {
  if (Array.isArray(value)) return value.map(toJson);
  if (isPlainObject(value)) {
    const out: Record<string, Json> = {};
    for (const k of presentKeys(value)) out[k] = toJson(value[k]);
    return out;
  }
  return value as Json;
}

/**
 * The JSON merge patch that turns `current` into `desired`, or undefined when they are equal.
 * Objects are patched member by member (recursively); a member missing from `desired` is null;
 * arrays and scalars that differ are sent whole.
 */
export function buildMergePatch(current: unknown, desired: unknown): Json | undefined {
  if (jsonEqual(current, desired)) return undefined;
  if (!isPlainObject(current) || !isPlainObject(desired)) return toJson(desired);
  const patch: Record<string, Json> = {};
  for (const k of presentKeys(current)) if (desired[k] === undefined) patch[k] = null;
  for (const k of presentKeys(desired)) {
    const member = buildMergePatch(current[k], desired[k]);
    if (member !== undefined) patch[k] = member;
  }
  return patch;
}

/**
 * Writes `desired` as the status of the NetworkDiagnosis `ref` when it differs from `current` (the
 * status last read; undefined when there is none). Transient API errors are retried; others throw
 * a classified KubeApiError. Returns whether a patch was sent.
 */
export async function writeStatus(
  api: CustomObjectsApi,
  ref: ObjectRef,
  current: NetworkDiagnosisStatus | undefined,
  desired: NetworkDiagnosisStatus,
  retry: RetryOptions = {},
): Promise<boolean> {
  const patch = buildMergePatch(current ?? {}, desired);
  if (patch === undefined) return false;
  await callApi(
    { description: `patch status of ${PLURAL}.${GROUP} ${ref.namespace}/${ref.name}`, verb: 'patch', resource: `${PLURAL}/status`, namespace: ref.namespace },
    () =>
      api.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: ref.namespace, plural: PLURAL, name: ref.name, body: { status: patch } },
        // The generated client picks JSON patch for every PATCH; this request is a merge patch.
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ) as Promise<unknown>,
    retry,
  );
  return true;
}
