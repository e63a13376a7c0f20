// What bench/trace.ts hands the process it measures (bench/trace-process.ts) and gets back: the
// dump files, the packets to walk (JSON) and how they are chosen (random services and NodePorts
// of a kube-proxy rule set, from pods inside the cluster CIDR and clients outside it, arriving on
// an interface or made by the node itself), and the figures the process prints.

import type { KubeProxyService } from '../test/support/kube-proxy-rules.js';
import { nodeAddress } from './node-dumps.js';
import { pick } from './bench.js';

export type TraceQueryKind =
  | 'pod-to-cluster-ip'
  | 'pod-to-node-port'
  | 'outside-to-node-port'
  | 'outside-to-cluster-ip'
  | 'node-to-cluster-ip'
  | 'node-to-node-port';

export const TRACE_QUERY_KINDS: readonly TraceQueryKind[] = [
  'pod-to-cluster-ip',
  'pod-to-node-port',
  'outside-to-node-port',
  'outside-to-cluster-ip',
  'node-to-cluster-ip',
  'node-to-node-port',
];

/** One packet: `iif` absent for a packet the node makes (the OUTPUT path). */
export interface TraceQuery {
  readonly kind: TraceQueryKind;
  readonly protocol: 'tcp' | 'udp';
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly iif?: string;
}

export interface TraceQueryContext {
  readonly services: readonly KubeProxyService[];
  readonly nodeIp: string;
  /** Index of this node in the cluster: its pods are 10.244.<node>.2-254. */
  readonly node: number;
  readonly nodes: number;
}

/** `count` packets, the kinds in turn, everything else drawn from `random`. */
export function buildTraceQueries(context: TraceQueryContext, count: number, random: () => number): TraceQuery[] {
  const withNodePort = context.services.filter((s) => s.nodePort !== undefined);
  const localPod = (): string => `10.244.${context.node}.${2 + Math.floor(random() * 253)}`;
  // Outside the cluster CIDR: another node's own address, or a client beyond the gateway.
  const otherNode = (): number => (context.node + 1 + Math.floor(random() * (context.nodes - 1))) % context.nodes;
  const outside = (): string => (context.nodes > 1 && random() < 0.5 ? nodeAddress(otherNode()) : `203.0.113.${1 + Math.floor(random() * 254)}`);
  const sport = (): number => 32768 + Math.floor(random() * 28232);
  const queries: TraceQuery[] = [];
  for (let i = 0; i < count; i++) {
    const kind = TRACE_QUERY_KINDS[i % TRACE_QUERY_KINDS.length] ?? 'pod-to-cluster-ip';
    const toNodePort = kind.endsWith('node-port');
    const service = pick(random, toNodePort ? withNodePort : context.services);
    const dst = toNodePort ? context.nodeIp : service.clusterIP;
    const dport = toNodePort ? (service.nodePort ?? 0) : service.port;
    const base = { kind, protocol: service.protocol, dst, dport, sport: sport() };
    if (kind.startsWith('pod-')) queries.push({ ...base, src: localPod(), iif: 'cni0' });
    else if (kind.startsWith('outside-')) queries.push({ ...base, src: outside(), iif: 'eth0' });
    else queries.push({ ...base, src: context.nodeIp });
  }
  return queries;
}

/** The rule dump's file in the measured process's directory. */
export const IPTABLES_SAVE_FILE = 'node.iptables-save';

export interface TraceProcessOutput {
  readonly readMs: number;
  readonly parseMs: number;
  readonly firstTraceMs: number;
  /** From the process's start to the first trace's result. */
  readonly coldCliMs: number;
  /** Every trace after the first, ms. */
  readonly traceMs: readonly number[];
  readonly verdicts: Readonly<Record<string, number>>;
  /** Traces that found at least one DNAT destination. */
  readonly dnated: number;
  readonly parsedRules: number;
  readonly warnings: number;
  readonly peakRssKb: number;
}
