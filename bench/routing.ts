// The `routing` bench: route lookups in a large main table. One node of a 100-node cluster
// (bench/node-dumps.ts) whose main table also holds /26 blocks learnt from elsewhere, 5,000
// routes in all; a fresh Node process (bench/routing-process.ts) parses the dumps and makes
// 20,000 lookups to pods, nodes, the node itself and the internet, from pods, outside and itself.

import { figureLine, percentile, round, runFreshProcessOn, seededRandom, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import { buildNodeDumps } from './node-dumps.js';
import { nodeDumpInputs, QUERIES_FILE } from './node-dump-files.js';
import { buildRoutingQueries, type RoutingProcessOutput } from './routing-inputs.js';

const ROUTES = 5000;
const NODES = 100;
const NODE = 1;
const LOOKUPS = 20000;
const SEED = 20260102;

function readOutput(output: unknown): RoutingProcessOutput {
  const o = output as Partial<RoutingProcessOutput> | null;
  if (typeof o?.parseMs !== 'number' || !Array.isArray(o.lookupMs) || typeof o.peakRssKb !== 'number') {
    throw new Error('routing-process.js printed an unexpected object');
  }
  return o as RoutingProcessOutput;
}

function runRoutingBench(options: BenchOptions): BenchResult {
  const base = buildNodeDumps({ nodes: NODES, node: NODE }).routeCount;
  const extraRoutes = ROUTES - base;
  const node = buildNodeDumps({ nodes: NODES, node: NODE, extraRoutes });
  const queries = buildRoutingQueries({ node: NODE, nodes: NODES, nodeIp: node.nodeIp, extraRoutes }, LOOKUPS, seededRandom(SEED));

  const out = readOutput(runFreshProcessOn('routing-process.js', { ...nodeDumpInputs(node), [QUERIES_FILE]: JSON.stringify(queries) }, options));
  if (out.routes !== node.routeCount) throw new Error(`the routing state holds ${out.routes} routes of ${node.routeCount}`);

  const figures = {
    bench: 'routing',
    node: process.version,
    routes: out.routes,
    parseMs: round(out.parseMs, 1),
    lookups: out.lookupMs.length,
    firstLookupMs: round(out.firstLookupMs, 3),
    lookupP50Ms: round(percentile(out.lookupMs, 50), 4),
    lookupP99Ms: round(percentile(out.lookupMs, 99), 4),
    peakRssMb: round(out.peakRssKb / 1024, 1),
    decisions: out.decisions,
  };
  const decisions = Object.entries(out.decisions)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const text = [
    `routing: ${figures.routes} routes; node ${process.version}`,
    figureLine('parse (fresh process)', figures.parseMs, 'ms'),
    figureLine(`lookup p50 (${figures.lookups})`, figures.lookupP50Ms, 'ms'),
    figureLine('lookup p99', figures.lookupP99Ms, 'ms'),
    figureLine('peak RSS', figures.peakRssMb, 'MiB'),
    `  decisions: ${decisions}`,
  ].join('\n');
  return { figures, text };
}

export const ROUTING_BENCH: Bench = {
  summary: `route lookups in a table of ${ROUTES} routes: parse, per-lookup time`,
  run: runRoutingBench,
};
