// The measured part of the `diagnose` bench, run by bench/diagnose.ts in a fresh Node process:
// `node diagnose-process.js '{"nodes":1000,...}'` builds the synthetic cluster (timed apart:
// buildMs), then diagnoses its pod-to-service query as `netdiag diagnose` does (`detectPlugin()`,
// then `diagnose()` with that plugin) `runs` times, each on a fresh ClusterState whose namespaces
// are all `deferred`, so each diagnosis parses every namespace it reads (counted), and prints one
// JSON object of figures. A diagnosis that is not Reachable, or that raises a fatal or critical
// suspicion, fails the process: a broken path measures nothing.
//
// It imports the engine only through its public entry, as the operator does.

import { detectPlugin, diagnose, type Diagnosis } from '../src/diagnosis/index.js';
import { buildSyntheticCluster, type DiagnoseProcessInput, type DiagnoseProcessOutput } from './diagnose-inputs.js';

function problems(d: Diagnosis): string[] {
  const out: string[] = [];
  if (d.verdict !== 'Reachable') out.push(`verdict ${d.verdict}, not Reachable`);
  for (const s of d.suspicions) if (s.level === 'fatal' || s.level === 'critical') out.push(`${s.level} ${s.code} on ${s.node}: ${s.message}`);
  return out;
}

function measure(input: DiagnoseProcessInput): DiagnoseProcessOutput {
  const started = performance.now();
  const cluster = buildSyntheticCluster(input);
  const buildMs = performance.now() - started;
  const rssAfterBuildMb = process.memoryUsage.rss() / 1024 / 1024;

  const { query, target } = cluster;
  const text = `pod ${target.client.namespace}/${target.client.name} (${target.client.ip}, node-${target.client.node}) -> service ${target.service.namespace}/${target.service.name} ${target.service.clusterIP}:${target.service.port}/TCP (endpoints ${target.service.endpoints.map((e) => e.ip).join(', ')})`;
  const diagnoseMs: number[] = [];
  const parsedNodes: number[] = [];
  const parsedPods: number[] = [];
  const loadMs: number[] = [];
  let last: Diagnosis | undefined;
  let peakRssFirstKb = 0;
  let plugin = '';
  for (let run = 0; run < input.runs; run++) {
    let nodes = 0;
    let pods = 0;
    let inLoad = 0;
    const state = cluster.clusterState((_id, type, ms) => {
      if (type === 'node') nodes++;
      else pods++;
      inLoad += ms;
    });
    // As `netdiag diagnose` does: the plugin detected from the nodes' CNI configuration, then the walk.
    const t0 = performance.now();
    const choice = detectPlugin(state);
    const diagnosis = diagnose(state, query, { plugins: choice.name === 'generic' ? [] : [choice.plugin] });
    diagnoseMs.push(performance.now() - t0);
    plugin = choice.name;
    parsedNodes.push(nodes);
    parsedPods.push(pods);
    loadMs.push(inLoad);
    const wrong = problems(diagnosis);
    if (wrong.length > 0) throw new Error(`the diagnosis of ${text} is not a healthy path:\n  ${wrong.join('\n  ')}`);
    last = diagnosis;
    if (run === 0) peakRssFirstKb = process.resourceUsage().maxRSS;
  }
  if (last === undefined) throw new Error('no run');
  const objects = cluster.objects;
  return {
    nodes: objects.nodes.length,
    pods: objects.pods.length,
    services: objects.services.length,
    endpointSlices: objects.endpointSlices.length,
    rulesPerNode: cluster.rules.text.split('\n').filter((line) => line.startsWith('-A ')).length,
    rulesBytes: Buffer.byteLength(cluster.rules.text),
    routesPerNode: (JSON.parse(cluster.nodeDumps(0).routes.text) as unknown[]).length,
    buildMs,
    diagnoseMs,
    parsedNodes,
    parsedPods,
    loadMs,
    verdict: last.verdict,
    query: text,
    pathNodes: last.packetPath.nodes.length,
    pathHosts: last.packetPath.nodes.filter((n) => n.type === 'node').length,
    endpoints: target.service.endpoints.length,
    suspicions: last.suspicions.map((s) => `${s.level} ${s.code} on ${s.node}`),
    warnings: last.warnings.length,
    plugin,
    rssAfterBuildMb,
    peakRssFirstKb,
    peakRssKb: process.resourceUsage().maxRSS,
  };
}

const arg = process.argv[2];
if (arg === undefined) {
  process.stderr.write('usage: node diagnose-process.js \'{"nodes":N,"podsPerNode":N,"services":N,"endpointsPerService":N,"seed":N,"runs":N}\'\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(measure(JSON.parse(arg) as DiagnoseProcessInput))}\n`);
