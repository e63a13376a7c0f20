// Checks that a parsed JSON value has the shape of a node snapshot before anything reads it, so that
// a hand-edited, truncated or foreign file gives a message naming the file and the field instead of
// a crash deep in the adapter. Checks what the readers rely on, not every field of the schema.

import { SNAPSHOT_KIND, SNAPSHOT_SCHEMA_VERSION, type Snapshot } from './snapshot.js';

export class SnapshotShapeError extends Error {
  constructor(source: string, path: string, expected: string) {
    super(`${source}: ${path} should be ${expected}`);
    this.name = 'SnapshotShapeError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a parsed JSON value claims to be a node snapshot (of any version). */
export function isSnapshotDocument(value: unknown): boolean {
  return isObject(value) && value.kind === SNAPSHOT_KIND;
}

const NETSTACK_ITEMS = ['links', 'addresses', 'routes', 'rules', 'rules6', 'neighbors', 'fdb', 'sysctls', 'nftChains', 'nftables', 'ipset', 'ipvs'] as const;

/** Returns `value` as a Snapshot, or throws a SnapshotShapeError naming the first field that is wrong. */
export function checkSnapshotShape(value: unknown, source: string): Snapshot {
  const fail = (path: string, expected: string): never => {
    throw new SnapshotShapeError(source, path, expected);
  };
  const object = (v: unknown, path: string): Record<string, unknown> => (isObject(v) ? v : fail(path, 'an object'));
  const array = (v: unknown, path: string): readonly unknown[] => (Array.isArray(v) ? v : fail(path, 'an array'));
  const string = (v: unknown, path: string): string => (typeof v === 'string' ? v : fail(path, 'a string'));
  const item = (v: unknown, path: string): void => {
    const o = object(v, path);
    array(o.command, `${path}.command`);
    if (o.output !== undefined) string(o.output, `${path}.output`);
  };

  const root = object(value, '(document)');
  if (root.kind !== SNAPSHOT_KIND) fail('kind', `"${SNAPSHOT_KIND}"`);
  if (root.schemaVersion !== SNAPSHOT_SCHEMA_VERSION) {
    fail('schemaVersion', `${SNAPSHOT_SCHEMA_VERSION} (this netdiag reads version ${SNAPSHOT_SCHEMA_VERSION}; the file says ${JSON.stringify(root.schemaVersion)})`);
  }
  string(object(root.node, 'node').name, 'node.name');
  string(root.startedAt, 'startedAt');
  if (typeof root.complete !== 'boolean') fail('complete', 'a boolean');
  const cni = object(root.cni, 'cni');
  array(cni.configFiles, 'cni.configFiles').forEach((f, i) => string(object(f, `cni.configFiles[${i}]`).path, `cni.configFiles[${i}].path`));
  array(root.podsNotFound, 'podsNotFound').forEach((p, i) => {
    const pod = object(object(p, `podsNotFound[${i}]`).pod, `podsNotFound[${i}].pod`);
    string(pod.namespace, `podsNotFound[${i}].pod.namespace`);
    string(pod.name, `podsNotFound[${i}].pod.name`);
  });
  array(root.warnings, 'warnings');
  array(root.namespaces, 'namespaces').forEach((n, i) => {
    const path = `namespaces[${i}]`;
    const ns = object(n, path);
    const kind = string(ns.kind, `${path}.kind`);
    if (kind === 'pod') {
      const pod = object(ns.pod, `${path}.pod`);
      string(pod.namespace, `${path}.pod.namespace`);
      string(pod.name, `${path}.pod.name`);
    }
    const netstack = object(ns.netstack, `${path}.netstack`);
    for (const key of NETSTACK_ITEMS) item(netstack[key], `${path}.netstack.${key}`);
    for (const family of ['iptables', 'ip6tables'] as const) {
      const capture = object(netstack[family], `${path}.netstack.${family}`);
      item(capture.legacy, `${path}.netstack.${family}.legacy`);
      item(capture.nft, `${path}.netstack.${family}.nft`);
      array(capture.backends, `${path}.netstack.${family}.backends`);
    }
    item(object(netstack.sockets, `${path}.netstack.sockets`).listening, `${path}.netstack.sockets.listening`);
  });
  return value as Snapshot;
}
