// Golden fixtures of a cluster: the objects (objects.json) and each namespace's raw dumps
// (nodes/NAME/FILE, pods/NAME/FILE, one file per collector command), written from a live
// mini-cluster and read back into a ClusterState without root.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildNetnsState, type ClusterObjects, type CniConfigFile, type ClusterState, type NetnsDumps, type NetnsRecord } from '../../src/diagnosis/index.js';
import { DUMP_FILES, type MiniCluster, type RecordedDumpKey } from './mini-cluster.js';

type DumpKey = RecordedDumpKey;
const KEYS = Object.keys(DUMP_FILES) as DumpKey[];

export function recordCluster(cluster: MiniCluster, dir: string): void {
  writeFileSync(join(dir, 'objects.json'), `${JSON.stringify(cluster.objects, null, 2)}\n`);
  const write = (kind: 'nodes' | 'pods', name: string): void => {
    const dumps = cluster.dumpNetns(name);
    const target = join(dir, kind, name);
    mkdirSync(target, { recursive: true });
    for (const key of KEYS) {
      const dump = dumps[key];
      if (dump !== undefined) writeFileSync(join(target, DUMP_FILES[key]), dump.text);
    }
  };
  for (const name of Object.keys(cluster.nodes)) write('nodes', name);
  for (const name of Object.keys(cluster.pods)) write('pods', name);
}

/** The raw dumps of a recorded namespace, for tests that edit them before parsing. */
export function readRecordedDumps(dir: string, kind: 'nodes' | 'pods', name: string): NetnsDumps {
  const read = (key: DumpKey): { text: string; source: string } => ({ text: readFileSync(join(dir, kind, name, DUMP_FILES[key]), 'utf8'), source: `${kind}/${name}/${DUMP_FILES[key]}` });
  return {
    links: read('links'),
    addresses: read('addresses'),
    routes: read('routes'),
    rules: read('rules'),
    neighbors: read('neighbors'),
    fdb: read('fdb'),
    iptablesSave: read('iptablesSave'),
    ipsetSave: read('ipsetSave'),
    sysctls: read('sysctls'),
    sockets: read('sockets'),
    // Only namespaces of kube-proxy's ipvs mode have one (this kernel has no ip_vs to record it from).
    ...(existsSync(join(dir, kind, name, DUMP_FILES.ipvsSave)) ? { ipvsSave: read('ipvsSave') } : {}),
  };
}

/** The CNI configuration directory a recorded node's `cni/` files stand for. */
const CNI_CONF_DIR = '/etc/cni/net.d';

/** The recorded CNI configuration files of a fixture (nodes/NAME/cni/FILE), as a collector reads them. */
export function readRecordedCniConfigs(dir: string): Record<string, CniConfigFile[]> {
  const out: Record<string, CniConfigFile[]> = {};
  const base = join(dir, 'nodes');
  for (const node of readdirSync(base)) {
    const cni = join(base, node, 'cni');
    if (!existsSync(cni)) continue;
    out[node] = readdirSync(cni)
      .sort()
      .map((file) => ({ path: `${CNI_CONF_DIR}/${file}`, content: readFileSync(join(cni, file), 'utf8') }));
  }
  return out;
}

/** Adds (or replaces) the CNI configuration files of a state. */
export function withCniConfigs(state: ClusterState, cniConfigs: Readonly<Record<string, readonly CniConfigFile[]>>): ClusterState {
  return { ...state, cniConfigs };
}

/** Reads a recorded cluster; `edit` may change a namespace's dumps (by `nodes/NAME` or `pods/NAME`) first. */
export function loadRecordedCluster(dir: string, edit: (id: string, dumps: NetnsDumps) => NetnsDumps = (_id, d) => d): ClusterState {
  const objects = JSON.parse(readFileSync(join(dir, 'objects.json'), 'utf8')) as ClusterObjects;
  const load = (kind: 'nodes' | 'pods'): Record<string, NetnsRecord> => {
    const records: Record<string, NetnsRecord> = {};
    const base = join(dir, kind);
    if (!existsSync(base)) return records;
    for (const name of readdirSync(base)) {
      const state = buildNetnsState(edit(`${kind}/${name}`, readRecordedDumps(dir, kind, name)));
      records[kind === 'pods' ? `default/${name}` : name] = { kind: 'present', state };
    }
    return records;
  };
  return { objects, netns: { nodes: load('nodes'), pods: load('pods') }, cniConfigs: readRecordedCniConfigs(dir) };
}

/**
 * The same state with every namespace deferred, as the snapshot adapter makes them (parsed when a
 * diagnosis first reads them): for tests that a check does not depend on states being parsed up front.
 */
export function deferAllNetns(state: ClusterState): ClusterState {
  const defer = (records: ClusterState['netns']['nodes']): Record<string, NetnsRecord> =>
    Object.fromEntries(Object.entries(records).map(([id, r]) => [id, r.kind === 'present' ? { kind: 'deferred' as const, load: () => r.state } : r]));
  return { ...state, netns: { nodes: defer(state.netns.nodes), pods: defer(state.netns.pods) } };
}

