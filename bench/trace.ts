// The `trace` bench: `netdiag trace` on a large node. kube-proxy's rules for 5,000 services of 4
// endpoints each (test/support/kube-proxy-rules.ts) and the routing of one node of a 100-node
// cluster (bench/node-dumps.ts) are written to a temporary directory; a fresh Node process
// (bench/trace-process.ts) reads and parses them as the CLI does, then traces 2,000 packets.
//
// Targets (the issue): parse <= 500 ms, one trace <= 1 ms at the median, peak memory <= 300 MiB.

import { buildKubeProxyRules } from '../test/support/kube-proxy-rules.js';
import { figureLine, percentile, round, runFreshProcessOn, seededRandom, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import { buildNodeDumps, CLUSTER_CIDR } from './node-dumps.js';
import { nodeDumpInputs, QUERIES_FILE } from './node-dump-files.js';
import { buildTraceQueries, IPTABLES_SAVE_FILE, type TraceProcessOutput } from './trace-inputs.js';

const SERVICES = 5000;
const ENDPOINTS_PER_SERVICE = 4;
const NODES = 100;
const NODE = 1;
const PACKETS = 2000;
const SEED = 20260101;

export const TRACE_TARGETS = { parseMs: 500, traceP50Ms: 1, peakRssMb: 300 } as const;

function readOutput(output: unknown): TraceProcessOutput {
  const o = output as Partial<TraceProcessOutput> | null;
  if (typeof o?.parseMs !== 'number' || !Array.isArray(o.traceMs) || typeof o.peakRssKb !== 'number') {
    throw new Error('trace-process.js printed an unexpected object');
  }
  return o as TraceProcessOutput;
}

function runTraceBench(options: BenchOptions): BenchResult {
  const node = buildNodeDumps({ nodes: NODES, node: NODE });
  const rules = buildKubeProxyRules({ services: SERVICES, endpointsPerService: ENDPOINTS_PER_SERVICE, nodeIp: node.nodeIp, clusterCidr: CLUSTER_CIDR });
  const queries = buildTraceQueries({ services: rules.services, nodeIp: node.nodeIp, node: NODE, nodes: NODES }, PACKETS, seededRandom(SEED));
  const ruleCount = rules.text.split('\n').filter((line) => line.startsWith('-A ')).length;
  const lineCount = rules.text.split('\n').length - 1;

  const out = readOutput(
    runFreshProcessOn(
      'trace-process.js',
      { ...nodeDumpInputs(node), [IPTABLES_SAVE_FILE]: rules.text, [QUERIES_FILE]: JSON.stringify(queries) },
      options,
    ),
  );
  if (out.parsedRules !== ruleCount) throw new Error(`the parser read ${out.parsedRules} rules of ${ruleCount}`);

  const figures = {
    bench: 'trace',
    node: process.version,
    services: rules.services.length,
    endpointsPerService: ENDPOINTS_PER_SERVICE,
    rules: ruleCount,
    lines: lineCount,
    bytes: Buffer.byteLength(rules.text),
    routes: node.routeCount,
    parseMs: round(out.parseMs, 1),
    readMs: round(out.readMs, 1),
    firstTraceMs: round(out.firstTraceMs, 2),
    coldCliMs: round(out.coldCliMs, 1),
    traces: out.traceMs.length,
    traceP50Ms: round(percentile(out.traceMs, 50), 3),
    traceP99Ms: round(percentile(out.traceMs, 99), 3),
    traceMaxMs: round(percentile(out.traceMs, 100), 3),
    peakRssMb: round(out.peakRssKb / 1024, 1),
    verdicts: out.verdicts,
    dnated: out.dnated,
    warnings: out.warnings,
    targets: TRACE_TARGETS,
  };
  const verdicts = Object.entries(out.verdicts)
    .map(([verdict, n]) => `${verdict} ${n}`)
    .join(', ');
  const text = [
    `trace: ${figures.services} services x ${ENDPOINTS_PER_SERVICE} endpoints: ${ruleCount} rules, ${lineCount} lines; ${figures.routes} routes; node ${process.version}`,
    figureLine('parse (fresh process)', figures.parseMs, 'ms', TRACE_TARGETS.parseMs),
    figureLine(`trace p50 (${figures.traces})`, figures.traceP50Ms, 'ms', TRACE_TARGETS.traceP50Ms),
    figureLine('trace p99', figures.traceP99Ms, 'ms'),
    figureLine('first trace (cold)', figures.firstTraceMs, 'ms'),
    figureLine('start to first result', figures.coldCliMs, 'ms'),
    figureLine('peak RSS', figures.peakRssMb, 'MiB', TRACE_TARGETS.peakRssMb),
    `  verdicts: ${verdicts}; ${out.dnated} DNATed`,
  ].join('\n');
  return { figures, text };
}

export const TRACE_BENCH: Bench = {
  summary: `netdiag trace on kube-proxy's rules for ${SERVICES} services x ${ENDPOINTS_PER_SERVICE} endpoints: parse, per-packet trace, peak memory`,
  run: runTraceBench,
};
