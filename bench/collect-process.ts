// The measured part of the `collect` bench, run by bench/collect.ts in a fresh Node process:
// `node collect-process.js '<json>'` collects the snapshot of the node the bench built (as
// `netdiag collect` does: the same collector, the same sinks), writes it to a file and gzips it as
// the ConfigMap sink would, and prints one JSON object of figures.

import { readFileSync } from 'node:fs';

/** CPU time (ms) of this process and of every descendant it has waited for (/proc/self/stat utime..cstime). */
function cpuMsSoFar(which: 'self' | 'all'): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based); ticks of 10 ms.
  return (which === 'self' ? [11, 12] : [11, 12, 13, 14]).reduce((sum, i) => sum + Number(fields[i] ?? 0), 0) * 10;
}
import { collectSnapshot } from '../src/collector/agent/collect.js';
import { gzipSnapshot, writeSnapshotFile } from '../src/collector/agent/sinks.js';
import type { CommandRecord, NetstackCapture, PodRef, Snapshot } from '../src/collector/snapshot.js';

export interface CollectProcessInput {
  readonly hostNetns: string;
  readonly podsFile: string;
  readonly outFile: string;
}

export interface CollectProcessOutput {
  readonly collectMs: number;
  /** CPU time of the collection, this process and its capture processes together. */
  readonly collectCpuMs: number;
  /** CPU time of the collection in this process alone. */
  readonly agentCpuMs: number;
  readonly writeMs: number;
  readonly gzipMs: number;
  readonly peakRssKb: number;
  readonly snapshotBytes: number;
  readonly snapshotGzipBytes: number;
  readonly namespaces: number;
  readonly podsMatched: number;
  readonly podsNotFound: number;
  /** Items with an error, by item name (a healthy bench node has none but IPVS's). */
  readonly errors: Readonly<Record<string, number>>;
  readonly complete: boolean;
  readonly parallelism: number;
}

function errorsOf(snapshot: Snapshot): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const ns of snapshot.namespaces) {
    for (const [name, item] of Object.entries(ns.netstack) as Array<[string, NetstackCapture[keyof NetstackCapture]]>) {
      const items: CommandRecord[] = 'legacy' in item ? [item.legacy, item.nft] : 'listening' in item ? [item.listening] : [item];
      for (const i of items) if (i.error !== undefined) counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return counts;
}

async function measure(input: CollectProcessInput): Promise<CollectProcessOutput> {
  const pods = JSON.parse(readFileSync(input.podsFile, 'utf8')) as PodRef[];
  const cpu0 = cpuMsSoFar('all');
  const self0 = cpuMsSoFar('self');
  const t0 = performance.now();
  const snapshot = await collectSnapshot({ version: 'bench', pods, hostNetnsPath: input.hostNetns, deadlineMs: 60_000, commandTimeoutMs: 10_000, criEndpoint: false });
  const t1 = performance.now();
  const collectCpuMs = cpuMsSoFar('all') - cpu0;
  const agentCpuMs = cpuMsSoFar('self') - self0;
  const snapshotBytes = writeSnapshotFile(input.outFile, snapshot);
  const t2 = performance.now();
  const { gzip } = await gzipSnapshot(snapshot);
  const t3 = performance.now();
  return {
    collectMs: t1 - t0,
    collectCpuMs,
    agentCpuMs,
    writeMs: t2 - t1,
    gzipMs: t3 - t2,
    peakRssKb: process.resourceUsage().maxRSS,
    snapshotBytes,
    snapshotGzipBytes: gzip.length,
    namespaces: snapshot.namespaces.length,
    podsMatched: snapshot.namespaces.filter((n) => n.kind === 'pod').length,
    podsNotFound: snapshot.podsNotFound.length,
    errors: errorsOf(snapshot),
    complete: snapshot.complete,
    parallelism: snapshot.agent.parallelism,
  };
}

measure(JSON.parse(process.argv[2] ?? '{}') as CollectProcessInput).then(
  (output) => process.stdout.write(`${JSON.stringify(output)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
