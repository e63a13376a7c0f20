// The measured part of the `routing` bench, run by bench/routing.ts in a fresh Node process:
// `node routing-process.js DIR` parses the node's `ip -j` dumps and sysctls from DIR as
// `netdiag trace` does (timed, cold), then makes every route lookup of DIR/queries.json, timing
// each, and prints one JSON object of figures.

import { buildHostFromDumps, parseIp, type IpAddress } from '../src/diagnosis/index.js';
import { lookupRoute } from '../src/diagnosis/netstack/routing/index.js';
import { QUERIES_FILE, readDump, readNodeDumps } from './node-dump-files.js';
import { type RoutingProcessOutput, type RoutingQuery } from './routing-inputs.js';

function address(text: string): IpAddress {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(`bad address in the queries: ${text}`);
  return ip;
}

function measure(dir: string): RoutingProcessOutput {
  // No rule set: this bench measures routing alone.
  const dumps = { ...readNodeDumps(dir), iptablesSave: { text: '', source: 'none' } };
  const t0 = performance.now();
  const host = buildHostFromDumps({ ...dumps, family: 4 });
  const parseMs = performance.now() - t0;
  const routing = host.input.routing;
  if (routing === undefined) throw new Error('no routing state from the dumps');
  let routes = 0;
  for (const family of Object.values(routing.families)) for (const table of family.tables.values()) routes += table.size;

  const queries = JSON.parse(readDump(dir, QUERIES_FILE).text) as RoutingQuery[];
  const decisions: Record<string, number> = {};
  const lookupMs: number[] = [];
  let firstLookupMs = 0;
  queries.forEach((q, i) => {
    const query = { dst: address(q.dst), ...(q.src !== undefined ? { src: address(q.src) } : {}), ...(q.iif !== undefined ? { iif: q.iif } : {}) };
    const start = performance.now();
    const decision = lookupRoute(routing, query);
    const ms = performance.now() - start;
    if (i === 0) firstLookupMs = ms;
    else lookupMs.push(ms);
    decisions[decision.kind] = (decisions[decision.kind] ?? 0) + 1;
  });
  return { parseMs, routes, lookupMs, firstLookupMs, decisions, peakRssKb: process.resourceUsage().maxRSS };
}

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: node routing-process.js DIR\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(measure(dir))}\n`);
