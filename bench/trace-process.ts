// The measured part of the `trace` bench, run by bench/trace.ts in a fresh Node process:
// `node trace-process.js DIR` reads the node's dumps from DIR as `netdiag trace` does, builds the
// host from them once (timed: the parse a CLI invocation pays, cold), then traces every packet of
// DIR/queries.json through it, timing each, and prints one JSON object of figures.
//
// It imports the engine only through its public entry, as the CLI does.

import { buildHostFromDumps, buildPacket, parseIp, traceHost, type IpAddress } from '../src/diagnosis/index.js';
import { QUERIES_FILE, readDump, readNodeDumps } from './node-dump-files.js';
import { IPTABLES_SAVE_FILE, type TraceProcessOutput, type TraceQuery } from './trace-inputs.js';

function address(text: string): IpAddress {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(`bad address in the queries: ${text}`);
  return ip;
}

function measure(dir: string): TraceProcessOutput {
  const started = performance.now();
  const dumps = { ...readNodeDumps(dir), iptablesSave: readDump(dir, IPTABLES_SAVE_FILE) };
  const read = performance.now();
  const host = buildHostFromDumps({ ...dumps, family: 4 }, ['eth0', 'cni0']);
  const parsed = performance.now();

  const queries = JSON.parse(readDump(dir, QUERIES_FILE).text) as TraceQuery[];
  const verdicts: Record<string, number> = {};
  let dnated = 0;
  let firstTraceMs = 0;
  let coldCliMs = 0;
  const traceMs: number[] = [];
  queries.forEach((q, i) => {
    const packet = buildPacket({ protocol: q.protocol, src: address(q.src), dst: address(q.dst), sport: q.sport, dport: q.dport });
    const t0 = performance.now();
    const result = traceHost(host.input, { packet, ...(q.iif !== undefined ? { iif: q.iif } : {}) });
    const t1 = performance.now();
    if (i === 0) {
      firstTraceMs = t1 - t0;
      coldCliMs = t1;
    } else {
      traceMs.push(t1 - t0);
    }
    verdicts[result.verdict] = (verdicts[result.verdict] ?? 0) + 1;
    if (result.destinations.length > 0) dnated++;
  });

  let parsedRules = 0;
  for (const table of host.input.ruleset.tables.values()) for (const chain of table.chains.values()) parsedRules += chain.rules.length;
  return {
    readMs: read - started,
    parseMs: parsed - read,
    firstTraceMs,
    coldCliMs,
    traceMs,
    verdicts,
    dnated,
    parsedRules,
    warnings: host.warnings.length,
    peakRssKb: process.resourceUsage().maxRSS,
  };
}

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: node trace-process.js DIR\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(measure(dir))}\n`);
