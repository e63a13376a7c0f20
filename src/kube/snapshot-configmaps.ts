// The snapshot channel: a node's snapshot, gzipped and cut into chunks of at most ~900 KiB, one
// immutable ConfigMap each (binaryData) in the operator's namespace, labelled with the diagnosis
// and the node; and the way back for the controller: list by those labels, take the newest
// snapshot, check that every chunk is there and the checksum holds, decompress, parse.
// (docs/adr/0002-configmaps-snapshot-channel.md says why ConfigMaps.)

import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { SnapshotUnpackError, unpackSnapshot, type PackedSnapshot } from '../collector/snapshot-pack.js';
import { SNAPSHOT_KIND, SNAPSHOT_SCHEMA_VERSION, type Snapshot } from '../collector/snapshot.js';
import {
  ANNOTATION_CHUNK,
  ANNOTATION_CHUNKS,
  ANNOTATION_CREATED_AT,
  ANNOTATION_DIAGNOSIS,
  ANNOTATION_NODE,
  ANNOTATION_RAW_BYTES,
  ANNOTATION_SCHEMA_VERSION,
  ANNOTATION_SHA256,
  diagnosisKey,
  LABEL_COMPONENT,
  LABEL_DIAGNOSIS,
  LABEL_MANAGED_BY,
  LABEL_NODE,
  LABEL_SNAPSHOT,
  labelValueOf,
  MANAGED_BY,
} from './labels.js';
import { KubeApiError } from './errors.js';
import { listAllPages } from './paging.js';
import { callApi, type RetryOptions } from './retry.js';

/** The binaryData key of a chunk. */
export const CHUNK_KEY = 'snapshot.json.gz.part';
const COMPONENT = 'snapshot';

export interface SnapshotLocation {
  /** The operator's namespace, where the ConfigMaps live. */
  readonly namespace: string;
  readonly diagnosis: { readonly namespace: string; readonly name: string };
  readonly node: string;
}

export interface WriteOptions extends RetryOptions {
  /** Default: random. */
  readonly snapshotId?: string;
  readonly now?: Date;
}

export interface WrittenSnapshot {
  readonly snapshotId: string;
  readonly configMaps: readonly string[];
  readonly rawBytes: number;
  readonly gzipBytes: number;
}

/** The label selector of every snapshot ConfigMap of one diagnosis (and node, when given). */
export function snapshotSelector(diagnosis: { readonly namespace: string; readonly name: string }, node?: string): string {
  const parts = [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_COMPONENT}=${COMPONENT}`, `${LABEL_DIAGNOSIS}=${labelValueOf(diagnosisKey(diagnosis))}`];
  if (node !== undefined) parts.push(`${LABEL_NODE}=${labelValueOf(node)}`);
  return parts.join(',');
}

/** `netdiag-snap-<readable part>-<id>-<index>`, a valid DNS subdomain of at most 253 characters. */
function chunkName(location: SnapshotLocation, snapshotId: string, index: number): string {
  const readable = `${location.diagnosis.namespace}-${location.diagnosis.name}-${location.node}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 180)
    .replace(/^-+|-+$/g, '');
  return `netdiag-snap-${readable}-${snapshotId}-${index}`;
}

/** The ConfigMaps of a packed snapshot: pure, for review of what is written. */
export function buildSnapshotConfigMaps(location: SnapshotLocation, packed: PackedSnapshot, snapshotId: string, now: Date): V1ConfigMap[] {
  const labels = {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: COMPONENT,
    [LABEL_DIAGNOSIS]: labelValueOf(diagnosisKey(location.diagnosis)),
    [LABEL_NODE]: labelValueOf(location.node),
    [LABEL_SNAPSHOT]: snapshotId,
  };
  return packed.chunks.map((chunk, index) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: chunkName(location, snapshotId, index),
      namespace: location.namespace,
      labels,
      annotations: {
        [ANNOTATION_DIAGNOSIS]: diagnosisKey(location.diagnosis),
        [ANNOTATION_NODE]: location.node,
        [ANNOTATION_CHUNK]: String(index),
        [ANNOTATION_CHUNKS]: String(packed.chunks.length),
        [ANNOTATION_SHA256]: packed.sha256,
        [ANNOTATION_SCHEMA_VERSION]: String(SNAPSHOT_SCHEMA_VERSION),
        [ANNOTATION_RAW_BYTES]: String(packed.rawBytes),
        [ANNOTATION_CREATED_AT]: now.toISOString(),
      },
    },
    immutable: true,
    binaryData: { [CHUNK_KEY]: chunk.toString('base64') },
  }));
}

/**
 * Writes a packed snapshot (collector/snapshot-pack.ts: gzip, chunks of at most ~900 KiB) as one
 * ConfigMap per chunk. A chunk that already exists under its name (a retried create whose first
 * answer was lost) counts as written: names carry the snapshot's id.
 */
export async function writeSnapshotConfigMaps(api: CoreV1Api, location: SnapshotLocation, packed: PackedSnapshot, options: WriteOptions = {}): Promise<WrittenSnapshot> {
  const snapshotId = options.snapshotId ?? randomBytes(5).toString('hex');
  const configMaps = buildSnapshotConfigMaps(location, packed, snapshotId, options.now ?? new Date());
  const names: string[] = [];
  for (const body of configMaps) {
    const name = body.metadata?.name ?? '';
    const operation = { description: `create configmap ${location.namespace}/${name}`, verb: 'create', resource: 'configmaps', namespace: location.namespace };
    try {
      await callApi(operation, () => api.createNamespacedConfigMap({ namespace: location.namespace, body }), options);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.kind === 'already-exists')) throw error;
    }
    names.push(name);
  }
  return { snapshotId, configMaps: names, rawBytes: packed.rawBytes, gzipBytes: packed.gzipBytes };
}

export type SnapshotReadProblem = 'not-found' | 'incomplete' | 'corrupt' | 'unsupported-version';

/** A snapshot that cannot be read back, and which of the four reasons it is. */
export class SnapshotReadError extends Error {
  constructor(
    readonly problem: SnapshotReadProblem,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SnapshotReadError';
  }
}

export interface ReadSnapshot {
  readonly snapshot: Snapshot;
  readonly snapshotId: string;
  readonly createdAt: string;
  readonly configMaps: readonly string[];
  readonly gzipBytes: number;
}

/** The ConfigMaps of `namespace` that `labelSelector` selects, every page. */
export function listConfigMaps(api: CoreV1Api, namespace: string, labelSelector: string, options: RetryOptions, pageSize = 50): Promise<V1ConfigMap[]> {
  return listAllPages(
    { description: `list configmaps in ${namespace} (${labelSelector})`, verb: 'list', resource: 'configmaps', namespace },
    (page) => api.listNamespacedConfigMap({ namespace, labelSelector, ...page }),
    pageSize,
    options,
  );
}

/**
 * Reads the newest snapshot of a diagnosis on a node. Throws SnapshotReadError when there is none
 * (`not-found`), a chunk is missing (`incomplete`), the checksum or compression or JSON fails
 * (`corrupt`), or it was written in another schema version (`unsupported-version`). An older
 * snapshot is never returned in place of a broken newer one.
 */
export async function readSnapshotConfigMaps(api: CoreV1Api, location: SnapshotLocation, options: RetryOptions = {}): Promise<ReadSnapshot> {
  const where = `snapshot of ${diagnosisKey(location.diagnosis)} on node ${location.node} in namespace ${location.namespace}`;
  const all = await listConfigMaps(api, location.namespace, snapshotSelector(location.diagnosis, location.node), options);
  // Labels may be hashes: the annotations hold the full values.
  const mine = all.filter((cm) => cm.metadata?.annotations?.[ANNOTATION_DIAGNOSIS] === diagnosisKey(location.diagnosis) && cm.metadata.annotations[ANNOTATION_NODE] === location.node);
  if (mine.length === 0) throw new SnapshotReadError('not-found', `no ${where}`);

  const byId = new Map<string, V1ConfigMap[]>();
  for (const cm of mine) {
    const id = cm.metadata?.labels?.[LABEL_SNAPSHOT] ?? '';
    byId.set(id, [...(byId.get(id) ?? []), cm]);
  }
  const createdAt = (cms: V1ConfigMap[]): string => cms[0]?.metadata?.annotations?.[ANNOTATION_CREATED_AT] ?? '';
  const [snapshotId, chunks] = [...byId].sort(([, a], [, b]) => createdAt(b).localeCompare(createdAt(a)))[0] ?? ['', []];
  const names = chunks.map((cm) => cm.metadata?.name ?? '');

  const annotation = (cm: V1ConfigMap, key: string): string => cm.metadata?.annotations?.[key] ?? '';
  const counts = new Set(chunks.map((cm) => annotation(cm, ANNOTATION_CHUNKS)));
  const sums = new Set(chunks.map((cm) => annotation(cm, ANNOTATION_SHA256)));
  const versions = new Set(chunks.map((cm) => annotation(cm, ANNOTATION_SCHEMA_VERSION)));
  const first = chunks[0];
  if (first === undefined || counts.size !== 1 || sums.size !== 1) {
    throw new SnapshotReadError('corrupt', `${where} (id ${snapshotId}): its chunks disagree on the chunk count or checksum (${names.join(', ')})`);
  }
  if (versions.size !== 1 || annotation(first, ANNOTATION_SCHEMA_VERSION) !== String(SNAPSHOT_SCHEMA_VERSION)) {
    throw new SnapshotReadError('unsupported-version', `${where} (id ${snapshotId}) has schema version ${[...versions].join('/')}; this netdiag reads version ${SNAPSHOT_SCHEMA_VERSION}`);
  }
  const count = Number(annotation(first, ANNOTATION_CHUNKS));
  const parts: Buffer[] = [];
  const missing: number[] = [];
  for (let i = 0; i < count; i++) {
    const cm = chunks.find((c) => annotation(c, ANNOTATION_CHUNK) === String(i));
    const data = cm?.binaryData?.[CHUNK_KEY];
    if (data === undefined) missing.push(i);
    else parts.push(Buffer.from(data, 'base64'));
  }
  if (!Number.isInteger(count) || count < 1 || missing.length > 0 || chunks.length !== count) {
    throw new SnapshotReadError('incomplete', `${where} (id ${snapshotId}) is incomplete: ${chunks.length} of ${count} chunks present${missing.length > 0 ? `, missing ${missing.join(', ')}` : ''}`);
  }

  let json: string;
  try {
    json = unpackSnapshot(parts, annotation(first, ANNOTATION_SHA256));
  } catch (error) {
    const why = error instanceof SnapshotUnpackError ? error.message : String(error);
    throw new SnapshotReadError('corrupt', `${where} (id ${snapshotId}): ${why}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json) as unknown;
  } catch (error) {
    throw new SnapshotReadError('corrupt', `${where} (id ${snapshotId}): not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const header = typeof parsed === 'object' && parsed !== null ? (parsed as { schemaVersion?: unknown; kind?: unknown }) : {};
  if (header.kind !== SNAPSHOT_KIND || header.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) {
    throw new SnapshotReadError('unsupported-version', `${where} (id ${snapshotId}) is not a ${SNAPSHOT_KIND} of schema version ${SNAPSHOT_SCHEMA_VERSION}`);
  }
  return {
    snapshot: parsed as Snapshot,
    snapshotId,
    createdAt: createdAt(chunks),
    configMaps: [...names].sort(),
    gzipBytes: parts.reduce((n, p) => n + p.length, 0),
  };
}

/** Deletes every snapshot ConfigMap of a diagnosis (on one node, when given): the controller's cleanup. */
export async function deleteSnapshotConfigMaps(api: CoreV1Api, namespace: string, diagnosis: { readonly namespace: string; readonly name: string }, node?: string, options: RetryOptions = {}): Promise<void> {
  const labelSelector = snapshotSelector(diagnosis, node);
  await callApi(
    { description: `delete configmaps in ${namespace} (${labelSelector})`, verb: 'deletecollection', resource: 'configmaps', namespace },
    () => api.deleteCollectionNamespacedConfigMap({ namespace, labelSelector }),
    options,
  );
}
