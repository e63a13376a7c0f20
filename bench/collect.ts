// The `collect` bench: `netdiag collect` on a node with 110 pod network namespaces (the kubelet's
// default pod limit) and kube-proxy's rules for 1,630 services of 4 endpoints (about 20,000
// iptables rules). The bench builds that node from network namespaces (a host namespace with a
// bridge and one veth per pod), loads the rules with iptables-nft-restore, runs the collector in a
// fresh Node process (bench/collect-process.ts), then does the same with the rules in the legacy
// backend instead, and tears everything down. Needs root.
//
// Targets (the issue): the whole collection <= 2 s, peak memory <= 150 MiB.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKubeProxyRules } from '../test/support/kube-proxy-rules.js';
import { run } from '../test/support/netns.js';
import { figureLine, round, runFreshProcess, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import type { CollectProcessInput, CollectProcessOutput } from './collect-process.js';

const PODS = 110;
const SERVICES = 1630;
const ENDPOINTS_PER_SERVICE = 4;

export const COLLECT_TARGETS = { collectMs: 2000, peakRssMb: 150 } as const;

/** The pod network namespaces and the host they hang off, with `ip -batch` where one netns is enough. */
function buildNode(prefix: string): { host: string; pods: Array<{ ns: string; ip: string }> } {
  const host = `${prefix}h`;
  const pods = Array.from({ length: PODS }, (_, i) => ({ ns: `${prefix}p${i}`, ip: `10.215.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 1}` }));
  run('ip', ['-batch', '-'], { input: [host, ...pods.map((p) => p.ns)].map((ns) => `netns add ${ns}\n`).join('') });
  const hostLines = ['link set lo up', 'link add br0 type bridge', 'link set br0 up', 'addr add 10.215.0.1/16 dev br0'];
  pods.forEach((p, i) => hostLines.push(`link add veth${i} type veth peer name eth0 netns ${p.ns}`, `link set veth${i} master br0 up`));
  run('ip', ['-n', host, '-batch', '-'], { input: `${hostLines.join('\n')}\n` });
  for (const p of pods) run('ip', ['-n', p.ns, '-batch', '-'], { input: `link set lo up\nlink set eth0 up\naddr add ${p.ip}/16 dev eth0\nroute add default via 10.215.0.1\n` });
  run('ip', ['netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  return { host, pods };
}

function destroyNode(prefix: string): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const mine = list.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
  if (mine.length > 0) spawnSync('ip', ['-force', '-batch', '-'], { input: mine.map((n) => `netns del ${n}\n`).join('') });
}

type Backend = 'nft' | 'legacy';

function summarise(backend: Backend, out: CollectProcessOutput, rules: number): Record<string, unknown> {
  return {
    backend,
    pods: out.podsMatched,
    rules,
    collectMs: round(out.collectMs, 0),
    collectCpuMs: out.collectCpuMs,
    agentCpuMs: out.agentCpuMs,
    writeMs: round(out.writeMs, 0),
    gzipMs: round(out.gzipMs, 0),
    peakRssMb: round(out.peakRssKb / 1024, 1),
    snapshotBytes: out.snapshotBytes,
    snapshotGzipBytes: out.snapshotGzipBytes,
    namespaces: out.namespaces,
    podsNotFound: out.podsNotFound,
    complete: out.complete,
    itemErrors: out.errors,
    parallelism: out.parallelism,
  };
}

function runCollectBench(options: BenchOptions): BenchResult {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('the collect bench needs root (it builds a node out of network namespaces)');
  const prefix = `ndb${randomBytes(2).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-bench-collect-'));
  const rules = buildKubeProxyRules({ services: SERVICES, endpointsPerService: ENDPOINTS_PER_SERVICE, nodeIp: '10.215.0.1', clusterCidr: '10.215.0.0/16' });
  const ruleCount = rules.text.split('\n').filter((line) => line.startsWith('-A ')).length;
  const outputs = new Map<Backend, CollectProcessOutput>();
  try {
    const node = buildNode(prefix);
    const podsFile = join(dir, 'pods.json');
    writeFileSync(podsFile, JSON.stringify(node.pods.map((p, i) => ({ namespace: 'bench', name: `pod-${i}`, ips: [p.ip] }))));
    const input: CollectProcessInput = { hostNetns: `/run/netns/${node.host}`, podsFile, outFile: join(dir, 'snapshot.json') };
    for (const backend of ['nft', 'legacy'] as const) {
      run('ip', ['netns', 'exec', node.host, `iptables-${backend}-restore`], { input: rules.text });
      outputs.set(backend, runFreshProcess('collect-process.js', [JSON.stringify(input)], options) as CollectProcessOutput);
      // Empty the backend again before the next one is loaded.
      if (backend === 'nft') run('ip', ['netns', 'exec', node.host, 'nft', 'flush', 'ruleset']);
      else run('ip', ['netns', 'exec', node.host, 'iptables-legacy-restore'], { input: '*filter\nCOMMIT\n*nat\nCOMMIT\n*mangle\nCOMMIT\n' });
    }
  } finally {
    destroyNode(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = (backend: Backend): Record<string, unknown> => {
    const out = outputs.get(backend);
    if (out === undefined) throw new Error(`no figures for the ${backend} backend`);
    return summarise(backend, out, ruleCount);
  };
  const nft = summary('nft');
  const legacy = summary('legacy');
  const figures = { bench: 'collect', node: process.version, cores: availableParallelism(), ...nft, legacy, targets: COLLECT_TARGETS };
  const line = (s: Record<string, unknown>): string[] => [
    figureLine(`collect, ${String(s.backend)}`, s.collectMs as number, 'ms', COLLECT_TARGETS.collectMs),
    figureLine('CPU (agent + children)', s.collectCpuMs as number, 'ms'),
    figureLine('CPU (agent alone)', s.agentCpuMs as number, 'ms'),
    figureLine('peak RSS', s.peakRssMb as number, 'MiB', COLLECT_TARGETS.peakRssMb),
    figureLine('snapshot', Math.round((s.snapshotBytes as number) / 1024), 'KiB'),
    figureLine('snapshot gzip', Math.round((s.snapshotGzipBytes as number) / 1024), 'KiB'),
  ];
  const text = [`collect: ${PODS} pods, ${ruleCount} iptables rules, ${availableParallelism()} cores, node ${process.version}`, ...line(nft), ...line(legacy)].join('\n');
  return { figures, text };
}

export const COLLECT_BENCH: Bench = {
  summary: `netdiag collect on a node of ${PODS} pod namespaces and ~20,000 iptables rules (nft and legacy): time, peak memory, snapshot size (root)`,
  run: runCollectBench,
};
