// Reads the directory `netdiag diagnose --snapshot DIR` is given: the cluster's objects, as kubectl
// prints them (JSON or YAML, Lists or single objects, multi-document YAML), and one node snapshot
// per node, as `netdiag collect` writes it (JSON, or gzipped JSON). Files are told apart by their
// content, not their names; every problem names the file and, where it can, the line or field.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { checkSnapshotShape, isSnapshotDocument, SnapshotShapeError } from '../collector/snapshot-shape.js';
import type { SourcedSnapshot } from '../collector/snapshot-cluster.js';
import type { ClusterObjects, KubeDaemonSet, KubeEndpointSlice, KubeNamespace, KubeNetworkPolicy, KubeNode, KubePod, KubeService } from '../diagnosis/index.js';
import { CliError } from './cli-error.js';

export interface SnapshotDir {
  readonly objects: ClusterObjects;
  /** By node name. */
  readonly snapshots: ReadonlyMap<string, SourcedSnapshot>;
  /** Objects of kinds the diagnosis does not read, counted by kind (a person may wonder). */
  readonly ignoredKinds: ReadonlyMap<string, number>;
}

/** How deep below DIR files are looked for (DIR/nodes/NAME.json, DIR/a/b/objects.yaml). */
const MAX_DEPTH = 3;

function listFiles(dir: string, depth = 0): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    throw new CliError(`--snapshot ${dir}: cannot read the directory (${code === 'ENOENT' ? 'no such directory' : code})`, 1, { cause: error });
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory() && depth < MAX_DEPTH) files.push(...listFiles(path, depth + 1));
    else if (entry.isFile() && /\.(json|json\.gz|ya?ml)$/.test(entry.name)) files.push(path);
  }
  return files;
}

/** Line and column of a character offset, for JSON errors that give only a position. */
function lineOf(text: string, position: number): string {
  const before = text.slice(0, position).split('\n');
  return `line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1}`;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message)?.[1];
    throw new CliError(`${name}: not valid JSON${position !== undefined ? ` at ${lineOf(text, Number(position))}` : ''}: ${message}`, 1, { cause: error });
  }
}

function parseDocuments(path: string, name: string): unknown[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new CliError(`${name}: cannot read: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
  }
  if (path.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new CliError(`${name}: not valid gzip: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
    }
  }
  const text = bytes.toString('utf8');
  if (!/\.ya?ml$/.test(path)) return [parseJson(text, name)];
  const documents = parseAllDocuments(text, { prettyErrors: true });
  const out: unknown[] = [];
  for (const doc of Array.isArray(documents) ? documents : [documents]) {
    const error = doc.errors[0];
    if (error !== undefined) throw new CliError(`${name}: not valid YAML: ${error.message}`, 1, { cause: error });
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

interface Collected {
  nodes: KubeNode[];
  pods: KubePod[];
  services: KubeService[];
  endpointSlices: KubeEndpointSlice[];
  networkPolicies: KubeNetworkPolicy[];
  daemonSets: KubeDaemonSet[];
  namespaces: KubeNamespace[];
  ignored: Map<string, number>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Adds a Kubernetes object (or the items of a List) to `into`; `where` names it in errors. */
function collectObject(value: unknown, where: string, into: Collected): void {
  if (!isObject(value)) throw new CliError(`${where}: not a Kubernetes object (no "kind")`);
  const kind = value.kind;
  if (typeof kind !== 'string') throw new CliError(`${where}: not a Kubernetes object (no "kind")`);
  if (Array.isArray(value.items) && (kind === 'List' || kind.endsWith('List'))) {
    value.items.forEach((item, i) => collectObject(isObject(item) && item.kind === undefined ? { ...item, kind: kind.slice(0, -'List'.length) } : item, `${where} items[${i}]`, into));
    return;
  }
  const metadata = value.metadata;
  if (!isObject(metadata) || typeof metadata.name !== 'string') throw new CliError(`${where}: ${kind} without metadata.name`);
  const collection = COLLECTIONS[kind];
  if (collection === undefined) {
    into.ignored.set(kind, (into.ignored.get(kind) ?? 0) + 1);
    return;
  }
  if (collection.needsSpec && !isObject(value.spec)) throw new CliError(`${where}: ${kind} ${metadata.name} has no spec`);
  // Checked as far as the object types require (metadata.name, a spec where the type has one).
  (into[collection.into] as unknown[]).push(value);
}

/** Where each kind the diagnosis reads goes, and whether it must have a spec. */
const COLLECTIONS: Readonly<Record<string, { readonly into: keyof Omit<Collected, 'ignored'>; readonly needsSpec: boolean }>> = {
  Node: { into: 'nodes', needsSpec: false },
  Pod: { into: 'pods', needsSpec: true },
  Service: { into: 'services', needsSpec: true },
  EndpointSlice: { into: 'endpointSlices', needsSpec: false },
  NetworkPolicy: { into: 'networkPolicies', needsSpec: true },
  DaemonSet: { into: 'daemonSets', needsSpec: false },
  Namespace: { into: 'namespaces', needsSpec: false },
};

/** Reads DIR: every object file and node snapshot in it (up to three directories deep). */
export function readSnapshotDir(dir: string): SnapshotDir {
  const into: Collected = { nodes: [], pods: [], services: [], endpointSlices: [], networkPolicies: [], daemonSets: [], namespaces: [], ignored: new Map() };
  const snapshots = new Map<string, SourcedSnapshot>();
  try {
    if (!statSync(dir).isDirectory()) throw new CliError(`--snapshot ${dir}: not a directory`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`--snapshot ${dir}: no such directory`, 1, { cause: error });
  }
  for (const path of listFiles(dir)) {
    const name = relative(dir, path);
    parseDocuments(path, name).forEach((doc, i) => {
      const where = `${name}${i > 0 ? ` (document ${i + 1})` : ''}`;
      if (!isSnapshotDocument(doc)) {
        collectObject(doc, where, into);
        return;
      }
      let snapshot;
      try {
        snapshot = checkSnapshotShape(doc, where);
      } catch (error) {
        if (error instanceof SnapshotShapeError) throw new CliError(`not a snapshot netdiag can read: ${error.message}`, 1, { cause: error });
        throw error;
      }
      const node = snapshot.node.name;
      const other = snapshots.get(node);
      if (other !== undefined) throw new CliError(`${where} and ${other.source} are both snapshots of node ${node}: keep one`);
      snapshots.set(node, { snapshot, source: where });
    });
  }
  if (into.nodes.length === 0) {
    throw new CliError(
      `--snapshot ${dir}: no Node objects found; write the cluster's objects into it, e.g. kubectl get nodes,pods,services,endpointslices,networkpolicies,daemonsets,namespaces -A -o yaml > ${join(dir, 'objects.yaml')}`,
    );
  }
  if (snapshots.size === 0) throw new CliError(`--snapshot ${dir}: no node snapshot found; write one per node with netdiag collect --out ${join(dir, 'NODE.json')}`);
  const { ignored, namespaces, ...objects } = into;
  return { objects: { ...objects, namespaces }, snapshots, ignoredKinds: ignored };
}
