// The snapshot has one definition (src/collector/snapshot.ts) and one published schema
// (schemas/snapshot.schema.json, written by hand). This keeps them in step:
// - the key lists below are checked against the TypeScript types by the compiler (`npm run
//   typecheck`): `shape<T>()` accepts exactly T's required keys and exactly all of T's keys;
// - the test compares those lists with the schema's `required` and `properties` per definition
//   (following allOf), and checks that every definition of the schema is covered;
// - a snapshot built from real-looking step results validates, and broken ones do not.
import { describe, expect, it } from '@jest/globals';
import { buildNetstackPlan } from '../../src/collector/capture-plan.js';
import type { StepResult } from '../../src/collector/capture-script.js';
import { buildNetstackCapture } from '../../src/collector/netstack-items.js';
import {
  SNAPSHOT_KIND,
  SNAPSHOT_SCHEMA_VERSION,
  type AgentInfo,
  type CniCapture,
  type CommandRecord,
  type CriDiscovery,
  type DiscoveryRecord,
  type FileItem,
  type IptablesCapture,
  type JsonItem,
  type NamespaceSnapshot,
  type NetnsRef,
  type NetstackCapture,
  type NodeIdentity,
  type PodNotFound,
  type PodRef,
  type Snapshot,
  type SnapshotWarning,
  type SocketOwner,
  type SocketsCapture,
  type TextItem,
  type UnmatchedNamespace,
} from '../../src/collector/snapshot.js';
import { loadSnapshotSchema, snapshotSchemaErrors } from '../support/snapshot-schema.js';

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T] & string;
type AllKeys<T> = keyof T & string;
/** A, if its elements are exactly the members of U; never otherwise (a compile error at the call). */
type Exactly<U extends string, A extends readonly string[]> = [Exclude<U, A[number]>] extends [never] ? ([Exclude<A[number], U>] extends [never] ? A : never) : never;

interface Shape {
  readonly required: readonly string[];
  readonly all: readonly string[];
}

function shape<T>(): <const R extends readonly string[], const P extends readonly string[]>(required: Exactly<RequiredKeys<T>, R>, all: Exactly<AllKeys<T>, P>) => Shape {
  return (required, all) => ({ required, all });
}

const RECORD = ['command', 'startedAt', 'durationMs', 'exitCode', 'error', 'stderr', 'skipped', 'truncated', 'batch'] as const;

/** Every definition of the schema and the root, with the keys of its TypeScript type. */
const SHAPES: Record<string, Shape> = {
  '(root)': shape<Snapshot>()(
    ['schemaVersion', 'kind', 'node', 'agent', 'startedAt', 'completedAt', 'durationMs', 'complete', 'discovery', 'tools', 'cni', 'namespaces', 'podsNotFound', 'hostNetworkPods', 'unmatchedNamespaces', 'warnings'],
    ['schemaVersion', 'kind', 'node', 'agent', 'startedAt', 'completedAt', 'durationMs', 'complete', 'discovery', 'tools', 'cni', 'namespaces', 'podsNotFound', 'hostNetworkPods', 'unmatchedNamespaces', 'warnings'],
  ),
  CommandRecord: shape<CommandRecord>()(['command', 'exitCode'], RECORD),
  TextItem: shape<TextItem>()(['command', 'exitCode'], [...RECORD, 'output']),
  JsonItem: shape<JsonItem>()(['command', 'exitCode'], [...RECORD, 'data', 'output']),
  FileItem: shape<FileItem>()(['path'], ['path', 'size', 'content', 'truncated', 'error']),
  IptablesCapture: shape<IptablesCapture>()(['legacy', 'nft', 'backends'], ['legacy', 'nft', 'backends']),
  SocketOwner: shape<SocketOwner>()(['inode', 'pid', 'comm'], ['inode', 'pid', 'comm']),
  SocketsCapture: shape<SocketsCapture>()(['listening', 'owners'], ['listening', 'owners', 'ownersIncomplete']),
  NetstackCapture: shape<NetstackCapture>()(
    ['links', 'addresses', 'routes', 'rules', 'rules6', 'neighbors', 'fdb', 'sysctls', 'iptables', 'ip6tables', 'nftChains', 'nftables', 'ipset', 'ipvs', 'sockets'],
    ['links', 'addresses', 'routes', 'rules', 'rules6', 'neighbors', 'fdb', 'sysctls', 'iptables', 'ip6tables', 'nftChains', 'nftables', 'ipset', 'ipvs', 'sockets'],
  ),
  NetnsRef: shape<NetnsRef>()(['inode', 'path', 'foundBy'], ['inode', 'path', 'foundBy', 'names', 'pids', 'processCount']),
  PodRef: shape<PodRef>()(['namespace', 'name', 'ips'], ['namespace', 'name', 'uid', 'ips', 'hostNetwork']),
  NamespaceSnapshot: shape<NamespaceSnapshot>()(['kind', 'netns', 'netstack'], ['kind', 'netns', 'pod', 'matchedBy', 'netstack']),
  PodNotFound: shape<PodNotFound>()(['pod', 'reason'], ['pod', 'reason']),
  UnmatchedNamespace: shape<UnmatchedNamespace>()(['netns', 'addresses'], ['netns', 'addresses']),
  SnapshotWarning: shape<SnapshotWarning>()(['code', 'message'], ['code', 'message']),
  NodeIdentity: shape<NodeIdentity>()(['name', 'hostname', 'kernel'], ['name', 'hostname', 'machineId', 'bootId', 'kernel']),
  'NodeIdentity.kernel': shape<NodeIdentity['kernel']>()(['release', 'version', 'machine'], ['release', 'version', 'machine']),
  CriDiscovery: shape<CriDiscovery>()(['endpoint', 'pods'], ['endpoint', 'pods', 'inspect']),
  DiscoveryRecord: shape<DiscoveryRecord>()(['method', 'namespacesFound', 'processesScanned', 'durationMs'], ['method', 'cri', 'namespacesFound', 'processesScanned', 'durationMs']),
  CniCapture: shape<CniCapture>()(['configDir', 'configFiles', 'records'], ['configDir', 'configFiles', 'configDirError', 'records']),
  AgentInfo: shape<AgentInfo>()(['version', 'deadlineMs', 'commandTimeoutMs', 'parallelism'], ['version', 'deadlineMs', 'commandTimeoutMs', 'parallelism']),
};

interface SchemaNode {
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly allOf?: readonly { readonly $ref?: string }[];
  readonly $ref?: string;
}

const schema = loadSnapshotSchema() as unknown as SchemaNode & { $defs: Record<string, SchemaNode> };

function resolve(name: string): SchemaNode {
  if (name === '(root)') return schema;
  const [def, ...path] = name.split('.');
  let node = schema.$defs[def ?? ''];
  for (const key of path) node = node?.properties?.[key];
  if (node === undefined) throw new Error(`schema has no definition ${name}`);
  return node;
}

/** Required keys and property names of a definition, including what it takes in through allOf. */
function effective(node: SchemaNode): { required: Set<string>; all: Set<string> } {
  const required = new Set(node.required ?? []);
  const all = new Set(Object.keys(node.properties ?? {}));
  for (const part of node.allOf ?? []) {
    const ref = part.$ref?.replace('#/$defs/', '');
    if (ref === undefined) continue;
    const inner = effective(resolve(ref));
    inner.required.forEach((k) => required.add(k));
    inner.all.forEach((k) => all.add(k));
  }
  return { required, all };
}

const sorted = (keys: Iterable<string>): string[] => [...keys].sort();

describe('schemas/snapshot.schema.json and src/collector/snapshot.ts', () => {
  it.each(Object.entries(SHAPES))('%s: the same required keys and the same properties', (name, keys) => {
    const node = effective(resolve(name));
    expect(sorted(node.required)).toEqual(sorted(keys.required));
    expect(sorted(node.all)).toEqual(sorted(keys.all));
  });

  it('every definition of the schema is compared with its type', () => {
    expect(sorted(Object.keys(schema.$defs))).toEqual(sorted(Object.keys(SHAPES).filter((n) => n !== '(root)' && !n.includes('.'))));
  });

  it('states the schema version and kind the agent writes', () => {
    expect(schema.properties?.schemaVersion).toEqual({ const: SNAPSHOT_SCHEMA_VERSION });
    expect(schema.properties?.kind).toEqual({ const: SNAPSHOT_KIND });
  });
});

/** A step that printed `stdout` and exited 0. */
const ok = (id: string, stdout: string): StepResult => ({ id, startedAt: Date.parse('2026-01-01T00:00:00Z'), durationMs: 1.5, exitCode: 0, stdout: Buffer.from(stdout), stderr: '' });

function sampleSnapshot(): Snapshot {
  const plan = buildNetstackPlan('single');
  const ipLines = ['[{"ifindex":1,"ifname":"lo"}]', '[{"ifindex":1,"ifname":"lo","addr_info":[]}]', '[]', '[]', '[]'].join('\n');
  const results = new Map<string, StepResult>([
    ['ip', ok('ip', `${ipLines}\n`)],
    ['rules6', ok('rules6', '[]\n')],
    ['fdb', { id: 'fdb', exitCode: null, skipped: true }],
    ['sysctls', ok('sysctls', '/proc/sys/net/ipv4/ip_forward\t1\n')],
    ['nft', ok('nft', '{"nftables": []}\n')],
    ['iptables-nft', { id: 'iptables-nft', exitCode: null, skipped: true }],
    ['ip6tables-nft', { id: 'ip6tables-nft', exitCode: null, skipped: true }],
    ['iptables-legacy', ok('iptables-legacy', '*filter\n:INPUT DROP [0:0]\nCOMMIT\n')],
    ['ip6tables-legacy', { id: 'ip6tables-legacy', exitCode: null, failure: 'timed out after 1s (killed)', failureKind: 'timeout' }],
    ['ipset', { ...ok('ipset', ''), exitCode: 127, stderr: 'bash: ipset: command not found' }],
    ['ipvs', { id: 'ipvs', exitCode: null, skipped: true }],
    ['ss', ok('ss', 'Netid State\n')],
  ]);
  const netstack = buildNetstackCapture(plan, results);
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    kind: SNAPSHOT_KIND,
    node: { name: 'node1', hostname: 'node1', kernel: { release: '6.1.0', version: '#1 SMP', machine: 'x86_64' } },
    agent: { version: '0.1.0', deadlineMs: 60000, commandTimeoutMs: 10000, parallelism: 4 },
    startedAt: '2026-01-01T00:00:00.000Z',
    completedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    complete: false,
    discovery: { method: 'proc', namespacesFound: 2, processesScanned: 10, durationMs: 3 },
    tools: {},
    cni: { configDir: '/etc/cni/net.d', configFiles: [], configDirError: 'cannot list /etc/cni/net.d: no such file or directory', records: [] },
    namespaces: [
      { kind: 'host', netns: { inode: 4026531840, path: '/proc/self/ns/net', foundBy: ['host', 'proc'], pids: [1], processCount: 1 }, netstack },
      { kind: 'pod', netns: { inode: 4026532000, path: '/run/netns/p', foundBy: ['run-netns'], names: ['p'] }, pod: { namespace: 'ns', name: 'p', ips: ['10.0.0.2'] }, matchedBy: 'ip', netstack },
    ],
    podsNotFound: [{ pod: { namespace: 'ns', name: 'ghost', ips: ['10.0.0.9'] }, reason: 'no network namespace on the node holds 10.0.0.9' }],
    hostNetworkPods: [],
    unmatchedNamespaces: [],
    warnings: [{ code: 'cri-unavailable', message: 'no container runtime socket found' }],
  };
}

type Json = Record<string, unknown>;
/** The host namespace's netstack item `key` of a parsed snapshot. */
const hostItem = (s: Json, key: string): Json => ((((s.namespaces as Json[])[0] as Json).netstack as Json)[key] as Json);

describe('snapshots against the schema', () => {
  it('a snapshot built from step results of every kind (ok, skipped, failed, timed out) is valid', () => {
    const snapshot = JSON.parse(JSON.stringify(sampleSnapshot())) as unknown;
    expect(snapshotSchemaErrors(snapshot)).toEqual([]);
  });

  it.each([
    ['a missing required field', (s: Json) => delete s.complete, "must have required property 'complete'"],
    ['an unknown field', (s: Json) => (s.extra = 1), 'must NOT have additional properties'],
    ['an unknown namespace kind', (s: Json) => (((s.namespaces as Json[])[0] as Json).kind = 'vm'), 'must be equal to one of the allowed values'],
    ['an unknown field in an item', (s: Json) => (hostItem(s, 'links').extra = 1), 'must NOT have unevaluated properties'],
    ['a command that is not an argument vector', (s: Json) => (hostItem(s, 'ipset').command = 'ipset save'), 'must be array'],
  ])('rejects %s', (_, breakIt, message) => {
    const snapshot = JSON.parse(JSON.stringify(sampleSnapshot())) as Json;
    breakIt(snapshot);
    expect(snapshotSchemaErrors(snapshot).join('\n')).toContain(message);
  });
});
