// What bench/routing.ts hands the process it measures (bench/routing-process.ts) and gets back:
// the dump files, the lookups to make and how they are chosen, and the figures the process prints.

import { nodeAddress } from './node-dumps.js';

/** One route lookup: `iif` absent for a packet the node makes. */
export interface RoutingQuery {
  readonly dst: string;
  readonly src?: string;
  readonly iif?: string;
}

export interface RoutingQueryContext {
  readonly node: number;
  readonly nodes: number;
  readonly nodeIp: string;
  /** /26 blocks of 10.128.0.0/9 in the main table (bench/node-dumps.ts `extraRoutes`). */
  readonly extraRoutes: number;
}

/**
 * `count` lookups: destinations in the extra /26 blocks, other nodes' pods, this node's pods,
 * other nodes, this node, and the internet (the default route), in turn; from a pod on cni0, a
 * client beyond eth0, or the node itself, drawn at random.
 */
export function buildRoutingQueries(context: RoutingQueryContext, count: number, random: () => number): RoutingQuery[] {
  const byte = (): number => 1 + Math.floor(random() * 254);
  const otherNode = (): number => (context.node + 1 + Math.floor(random() * Math.max(1, context.nodes - 1))) % context.nodes;
  const destinations: (() => string)[] = [
    () => {
      const block = Math.floor(random() * Math.max(1, context.extraRoutes)) * 64 + Math.floor(random() * 64);
      return `10.${128 + Math.floor(block / 65536)}.${Math.floor(block / 256) % 256}.${block % 256}`;
    },
    () => `10.244.${otherNode()}.${byte()}`,
    () => `10.244.${context.node}.${2 + Math.floor(random() * 253)}`,
    () => nodeAddress(otherNode()),
    () => context.nodeIp,
    () => `198.51.100.${byte()}`,
  ];
  const queries: RoutingQuery[] = [];
  for (let i = 0; i < count; i++) {
    const dst = (destinations[i % destinations.length] ?? (() => context.nodeIp))();
    const from = random();
    if (from < 1 / 3) queries.push({ dst, src: `10.244.${context.node}.${2 + Math.floor(random() * 253)}`, iif: 'cni0' });
    else if (from < 2 / 3) queries.push({ dst, src: `203.0.113.${byte()}`, iif: 'eth0' });
    else queries.push({ dst });
  }
  return queries;
}

export interface RoutingProcessOutput {
  /** Parsing the dumps and indexing the routes (buildHostFromDumps without iptables rules). */
  readonly parseMs: number;
  readonly routes: number;
  /** Every lookup after the first, ms. */
  readonly lookupMs: readonly number[];
  readonly firstLookupMs: number;
  /** Decisions by kind (unicast, local, ...). */
  readonly decisions: Readonly<Record<string, number>>;
  readonly peakRssKb: number;
}
