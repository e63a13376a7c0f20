// From the collector's node snapshots and the cluster's objects to the diagnostor's input. Pure:
// each namespace becomes a deferred record whose dumps are parsed the first time a diagnosis walks
// through it; what a snapshot lacks becomes a `missing` record that says why, and what it holds but
// the walk cannot simulate (a failed iptables dump, both iptables backends) is named on the
// namespace, which then yields Inconclusive outcomes instead of guessed ones.

import {
  buildNetnsState,
  type ClusterObjects,
  type ClusterState,
  type CniConfigFile,
  type CniRecordFile,
  type Dump,
  type NetnsDumps,
  type NetnsRecord,
  type Warning,
} from '../diagnosis/index.js';
import type { JsonItem, NamespaceSnapshot, NetstackCapture, Snapshot, TextItem } from './snapshot.js';

/** A node's snapshot and where it came from (a file, a ConfigMap), for messages. */
export interface SourcedSnapshot {
  readonly snapshot: Snapshot;
  readonly source: string;
}

export interface SnapshotClusterState {
  readonly state: ClusterState;
  /** What the snapshots say about themselves (incomplete, captured with warnings), by node. */
  readonly warnings: readonly Warning[];
}

/** Why an item holds no usable output, in the collector's words. */
function itemProblem(item: TextItem | JsonItem): string {
  return item.error ?? item.skipped ?? `exit status ${item.exitCode ?? 'unknown'}`;
}

function commandText(item: TextItem | JsonItem): string {
  return item.command.join(' ');
}

function jsonDump(item: JsonItem, source: string): Dump | undefined {
  return item.data === undefined ? undefined : { text: JSON.stringify(item.data), source };
}

function textDump(item: TextItem, source: string): Dump | undefined {
  return item.output === undefined ? undefined : { text: item.output, source };
}

/** The iptables-save of the backend the kernel applies, and what cannot be simulated about it. */
function iptablesDump(netstack: NetstackCapture, label: string, unsimulated: string[], warnings: Warning[]): Dump {
  const { legacy, nft, backends } = netstack.iptables;
  const dumpOf = (item: TextItem): Dump => ({ text: item.output ?? '', source: `${label}: ${commandText(item)}` });
  if (backends.length === 2) {
    unsimulated.push(
      `both iptables backends hold rules (iptables-legacy and iptables-nft): the kernel applies both, in an order the dumps do not show`,
    );
    return dumpOf(nft);
  }
  const chosen = backends[0] === 'legacy' ? legacy : nft;
  const other = chosen === legacy ? nft : legacy;
  if (chosen.output === undefined && chosen.skipped === undefined) {
    unsimulated.push(`the iptables rules could not be read (${commandText(chosen)}: ${itemProblem(chosen)})`);
  } else if (backends.length === 0 && other.output === undefined && other.skipped === undefined) {
    // Neither backend shows rules, but one of the two could not be read: it may hold some.
    unsimulated.push(`the iptables rules could not be read (${commandText(other)}: ${itemProblem(other)})`);
  }
  if (chosen.truncated === true) unsimulated.push(`the output of ${commandText(chosen)} was cut by the collector`);
  if (chosen.stderr !== undefined && chosen.stderr !== '') warnings.push({ code: 'iptables-stderr', message: `${label}: ${commandText(chosen)} said: ${chosen.stderr}` });
  return dumpOf(chosen);
}

/** The tables iptables-nft creates; any other table with a base chain is native nftables. */
const IPTABLES_NFT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/** Whether an `nft -j` entry (table, chain, rule, set...) belongs to a table iptables-nft created. */
function isIptablesNftEntry(entry: Record<string, unknown>): boolean {
  const [kind, value] = Object.entries(entry)[0] ?? [];
  const object = value as { family?: string; table?: string; name?: string } | undefined;
  if (object?.family !== 'ip') return false;
  const table = kind === 'table' ? object.name : object.table;
  return table !== undefined && IPTABLES_NFT_TABLES.has(table);
}

/**
 * The native nftables rule set (e.g. kube-proxy's nftables mode) as the walk reads it: the
 * `nft -j list ruleset` document without the tables iptables-nft created (their rules are walked
 * from iptables-save); undefined when no native base chain sits on an IPv4 hook.
 */
function nativeNftablesDump(item: JsonItem, source: string): Dump | undefined {
  if (nativeNftablesChains(item).length === 0) return undefined;
  const doc = item.data as { nftables: readonly Record<string, unknown>[] };
  return { text: JSON.stringify({ nftables: doc.nftables.filter((entry) => !isIptablesNftEntry(entry)) }), source };
}

/** Native nftables base chains on IPv4 hooks. */
function nativeNftablesChains(item: JsonItem): string[] {
  const doc = item.data as { nftables?: readonly Record<string, unknown>[] } | undefined;
  const chains: string[] = [];
  for (const entry of doc?.nftables ?? []) {
    const chain = entry.chain as { family?: string; table?: string; name?: string; hook?: string } | undefined;
    if (chain?.hook === undefined || (chain.family !== 'ip' && chain.family !== 'inet')) continue;
    if (chain.family === 'ip' && chain.table !== undefined && IPTABLES_NFT_TABLES.has(chain.table)) continue;
    chains.push(`${chain.family} ${chain.table ?? '?'} ${chain.name ?? '?'} (hook ${chain.hook})`);
  }
  return chains;
}

/**
 * One namespace's dumps, or why it cannot be diagnosed at all (its links, addresses, routes or
 * sysctls were not captured: without them nothing the walk says would be grounded).
 */
export function buildNetnsDumps(netstack: NetstackCapture, label: string): { kind: 'dumps'; dumps: NetnsDumps; warnings: Warning[] } | { kind: 'unusable'; reason: string } {
  const src = (item: TextItem | JsonItem): string => `${label}: ${commandText(item)}`;
  const required = { links: netstack.links, addresses: netstack.addresses, routes: netstack.routes } as const;
  const json: Partial<Record<keyof typeof required, Dump>> = {};
  for (const [key, item] of Object.entries(required) as [keyof typeof required, JsonItem][]) {
    const dump = jsonDump(item, src(item));
    if (dump === undefined) return { kind: 'unusable', reason: `${commandText(item)} has no output (${itemProblem(item)})` };
    json[key] = dump;
  }
  const sysctls = textDump(netstack.sysctls, src(netstack.sysctls));
  if (sysctls === undefined) return { kind: 'unusable', reason: `the sysctls were not read (${itemProblem(netstack.sysctls)})` };
  const { links, addresses, routes } = json;
  if (links === undefined || addresses === undefined || routes === undefined) return { kind: 'unusable', reason: 'the routing dumps are incomplete' };

  const unsimulated: string[] = [];
  const warnings: Warning[] = [];
  const iptablesSave = iptablesDump(netstack, label, unsimulated, warnings);
  const nftables = nativeNftablesDump(netstack.nftables, src(netstack.nftables));

  const optional = (item: JsonItem): Dump | undefined => {
    const dump = jsonDump(item, src(item));
    if (dump === undefined && item.skipped === undefined) warnings.push({ code: 'dump-missing', message: `${label}: ${commandText(item)} has no output (${itemProblem(item)})` });
    return dump;
  };
  const rules = optional(netstack.rules);
  const neighbors = optional(netstack.neighbors);
  // Skipped: the namespace has no bridge or VXLAN device, so no FDB.
  const fdb = netstack.fdb.skipped !== undefined ? { text: '[]', source: src(netstack.fdb) } : optional(netstack.fdb);
  const ipsetSave = textDump(netstack.ipset, src(netstack.ipset));
  const ipvsSave = textDump(netstack.ipvs, src(netstack.ipvs));
  const sockets = textDump(netstack.sockets.listening, src(netstack.sockets.listening));
  return {
    kind: 'dumps',
    dumps: {
      links,
      addresses,
      routes,
      sysctls,
      iptablesSave,
      ...(nftables !== undefined ? { nftables } : {}),
      ...(rules !== undefined ? { rules } : {}),
      ...(neighbors !== undefined ? { neighbors } : {}),
      ...(fdb !== undefined ? { fdb } : {}),
      ...(ipsetSave !== undefined ? { ipsetSave } : {}),
      ...(ipvsSave !== undefined ? { ipvsSave } : {}),
      ...(sockets !== undefined ? { sockets } : {}),
      ...(unsimulated.length > 0 ? { unsimulated } : {}),
    },
    warnings,
  };
}

function recordOf(ns: NamespaceSnapshot, label: string, warnings: Warning[]): NetnsRecord {
  const built = buildNetnsDumps(ns.netstack, label);
  if (built.kind === 'unusable') return { kind: 'missing', reason: `${label}: ${built.reason}` };
  warnings.push(...built.warnings);
  const dumps = built.dumps;
  return { kind: 'deferred', load: () => buildNetnsState(dumps) };
}

function podKey(pod: { readonly namespace: string; readonly name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

/**
 * The cluster state of `objects` with the namespaces of `snapshots` (by node name). A node
 * without a snapshot, and every pod on it, is missing: because its collector failed, for the
 * reason `missingNodes` gives (the diagnosis then names CollectorFailed), or because no snapshot
 * was given.
 */
export function buildClusterStateFromSnapshots(
  objects: ClusterObjects,
  snapshots: ReadonlyMap<string, SourcedSnapshot>,
  missingNodes: ReadonlyMap<string, string> = new Map(),
): SnapshotClusterState {
  const nodes: Record<string, NetnsRecord> = {};
  const pods: Record<string, NetnsRecord> = {};
  const cniConfigs: Record<string, readonly CniConfigFile[]> = {};
  const cniRecords: Record<string, readonly CniRecordFile[]> = {};
  const warnings: Warning[] = [];
  const known = new Set(objects.nodes.map((n) => n.metadata.name));
  for (const [name, { source }] of snapshots) {
    if (!known.has(name)) warnings.push({ code: 'snapshot-of-unknown-node', message: `${source} is the snapshot of node ${name}, which is not among the Node objects: it is not used` });
  }
  for (const node of objects.nodes) {
    const name = node.metadata.name;
    const sourced = snapshots.get(name);
    if (sourced === undefined) {
      const failure = missingNodes.get(name);
      const missing: NetnsRecord = failure === undefined ? { kind: 'missing', reason: `no snapshot of node ${name} was given` } : { kind: 'missing', reason: `the collector on ${name} failed: ${failure}`, collectorFailed: true };
      nodes[name] = missing;
      for (const pod of objects.pods) if (pod.spec.nodeName === name && pod.spec.hostNetwork !== true) pods[podKey({ namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name })] = missing;
      continue;
    }
    const { snapshot, source } = sourced;
    if (!snapshot.complete) warnings.push({ code: 'snapshot-incomplete', message: `${source}: the collector on ${name} says its snapshot is incomplete (see the items' errors)` });
    for (const w of snapshot.warnings) warnings.push({ code: `collector-${w.code}`, message: `${source}: ${w.message}` });
    cniConfigs[name] = snapshot.cni.configFiles.map((f) => ({ path: f.path, ...(f.content !== undefined ? { content: f.content } : {}), ...(f.error !== undefined ? { error: f.error } : {}) }));
    if (snapshot.cni.records.length > 0) cniRecords[name] = snapshot.cni.records;
    const host = snapshot.namespaces.find((ns) => ns.kind === 'host');
    nodes[name] = host === undefined ? { kind: 'missing', reason: `${source} has no host namespace` } : recordOf(host, `${source} (host)`, warnings);
    for (const ns of snapshot.namespaces) {
      if (ns.kind !== 'pod' || ns.pod === undefined) continue;
      const key = podKey(ns.pod);
      pods[key] = recordOf(ns, `${source} (pod ${key})`, warnings);
    }
    for (const { pod, reason } of snapshot.podsNotFound) pods[podKey(pod)] ??= { kind: 'missing', reason: `the collector on ${name} found no namespace for it: ${reason}` };
    for (const pod of objects.pods) {
      if (pod.spec.nodeName !== name || pod.spec.hostNetwork === true) continue;
      const key = podKey({ namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name });
      pods[key] ??= { kind: 'missing', reason: `not in ${source}, captured at ${snapshot.startedAt}` };
    }
  }
  return { state: { objects, netns: { nodes, pods }, cniConfigs, ...(Object.keys(cniRecords).length > 0 ? { cniRecords } : {}) }, warnings };
}
