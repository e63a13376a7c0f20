// Node snapshots of a test cluster taken by the real collector, as `netdiag collect` takes them on
// a node: the node's namespace is the host, its pods are matched by IP. Each node's collector sees
// only that node's namespaces (a netns directory of links to them and a /proc with nothing but
// `self`), as on a real node, so no namespace of another node or of another test is found; its CNI
// configuration directory is empty.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectSnapshot } from '../../src/collector/agent/collect.js';
import type { Snapshot } from '../../src/collector/snapshot.js';
import type { ClusterObjects } from '../../src/diagnosis/index.js';

export interface SnapshotableCluster {
  readonly nodes: Readonly<Record<string, { readonly ns: string }>>;
  readonly pods: Readonly<Record<string, { readonly ns: string; readonly node: string; readonly name: string; readonly ip: string }>>;
}

export interface ClusterSnapshotter {
  snapshotNode(node: string): Promise<Snapshot>;
  /** Removes the scratch directory. */
  close(): void;
}

export function createClusterSnapshotter(cluster: SnapshotableCluster): ClusterSnapshotter {
  const work = mkdtempSync(join(tmpdir(), 'netdiag-snapshots-'));
  mkdirSync(join(work, 'no-proc'));
  symlinkSync('/proc/self', join(work, 'no-proc', 'self'));
  /** A node's own namespaces only (its host and its pods), as its collector would find them. */
  const nodeDir = (node: string): string => {
    const dir = join(work, node);
    if (existsSync(dir)) return dir;
    mkdirSync(join(dir, 'netns'), { recursive: true });
    mkdirSync(join(dir, 'cni'));
    const pods = Object.values(cluster.pods).filter((p) => p.node === node);
    for (const { ns } of [cluster.nodes[node] ?? { ns: '' }, ...pods]) symlinkSync(join('/run/netns', ns), join(dir, 'netns', ns));
    return dir;
  };
  return {
    snapshotNode: (node) => {
      const dir = nodeDir(node);
      return collectSnapshot({
        version: 'test',
        nodeName: node,
        pods: Object.values(cluster.pods)
          .filter((p) => p.node === node)
          .map((p) => ({ namespace: 'default', name: p.name, ips: [p.ip] })),
        hostNetnsPath: join(dir, 'netns', cluster.nodes[node]?.ns ?? ''),
        deadlineMs: 30_000,
        commandTimeoutMs: 10_000,
        criEndpoint: false,
        runNetnsDirs: [join(dir, 'netns')],
        procRoot: join(work, 'no-proc'),
        cniConfigDir: join(dir, 'cni'),
        cniRecordDir: join(dir, 'no-records'),
      });
    },
    close: () => rmSync(work, { recursive: true, force: true }),
  };
}

/** The cluster's objects as one List, as `kubectl get ... -o yaml` prints them. */
export function objectsList(objects: ClusterObjects): object {
  const tag = (kind: string, apiVersion: string) => (o: object): object => ({ apiVersion, kind, ...o });
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      ...objects.nodes.map(tag('Node', 'v1')),
      ...objects.pods.map(tag('Pod', 'v1')),
      ...objects.services.map(tag('Service', 'v1')),
      ...objects.endpointSlices.map(tag('EndpointSlice', 'discovery.k8s.io/v1')),
    ],
  };
}
