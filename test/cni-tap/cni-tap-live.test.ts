// netdiag-cni-tap with the REAL reference CNI plugins (bridge, host-local, loopback), called as a
// runtime calls a network configuration list: ADD through the plugins in order (each one's output
// is the next one's prevResult; the first failure stops the chain), DEL in reverse with the cached
// result. The tap is the BUILT dist/src/cni-tap/main.js, reached as `netdiag-cni-tap` in CNI_PATH
// (a symlink, run through its shebang), and the conflist is tapped by the built `netdiag cni-tap
// install`. Checked: the tapped chain's result is the untapped chain's, the records are what the
// diagnostor needs (healthy: nothing raised; a failing plugin: CniAddFailed), uninstall restores
// the file byte for byte, and an unwritable record directory never fails a call. Needs root and
// `npm run build`.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNetnsState, cniRecordFindings, type ClusterState, type CniRecordFile, type KubePod } from '../../src/diagnosis/index.js';
import { provisionBinaries } from '../support/control-plane.js';
import { dumpNamespace } from '../support/mini-cluster.js';
import { createNetns, destroyNetns, tryRun } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const TAP_MAIN = fileURLToPath(new URL('../../dist/src/cni-tap/main.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const PREFIX = 'ndtap';

interface Conflist {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly ({ readonly type: string } & Record<string, unknown>)[];
}

interface ChainRun {
  /** The runtime's result (ADD), when every plugin succeeded. */
  readonly result?: unknown;
  /** Each plugin's output, in call order. */
  readonly outputs: readonly { readonly type: string; readonly stdout: string; readonly stderr: string }[];
  /** The plugin that failed, and what it said. */
  readonly failed?: { readonly type: string; readonly output: string };
}

function bridgeConflist(name: string, bridge: string, ipam: Record<string, unknown>, dataDir: string): string {
  const conf = { cniVersion: '1.0.0', name, plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir, ...ipam } }] };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

describeAsRoot('netdiag-cni-tap with the real bridge, host-local and loopback plugins', () => {
  const created: string[] = [];
  const added: { podNs: string; containerId: string; conflist: string; result: unknown }[] = [];
  let dir = '';
  let binDir = '';
  let nodeNs = '';

  /** Runs one plugin in the node's namespace; stderr is kept on success too (the tap's reports). */
  function callPlugin(command: string, podNs: string, containerId: string, podName: string, type: string, config: object, ifname = 'eth0'): { ok: boolean; stdout: string; stderr: string } {
    const env = [
      `CNI_COMMAND=${command}`,
      `CNI_CONTAINERID=${containerId}`,
      `CNI_NETNS=/run/netns/${podNs}`,
      `CNI_IFNAME=${ifname}`,
      `CNI_PATH=${binDir}`,
      `CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
    ];
    const out = spawnSync('ip', ['netns', 'exec', nodeNs, 'env', ...env, join(binDir, type)], { input: JSON.stringify(config), encoding: 'utf8', timeout: 30_000 });
    return { ok: out.status === 0, stdout: out.stdout, stderr: out.stderr };
  }

  /** A conflist as libcni runs it. */
  function runChain(command: 'ADD' | 'DEL', conflist: string, podNs: string, containerId: string, podName: string, cached?: unknown): ChainRun {
    const list = JSON.parse(conflist) as Conflist;
    const plugins = command === 'ADD' ? list.plugins : [...list.plugins].reverse();
    const outputs: { type: string; stdout: string; stderr: string }[] = [];
    let result: unknown = command === 'DEL' ? cached : undefined;
    for (const plugin of plugins) {
      const config = { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(result !== undefined ? { prevResult: result } : {}) };
      const out = callPlugin(command, podNs, containerId, podName, plugin.type, config);
      outputs.push({ type: plugin.type, stdout: out.stdout, stderr: out.stderr });
      if (!out.ok) return { outputs, failed: { type: plugin.type, output: `${out.stdout} ${out.stderr}`.trim() } };
      if (command === 'ADD') result = JSON.parse(out.stdout) as unknown;
    }
    return { ...(command === 'ADD' ? { result } : {}), outputs };
  }

  /** A pod: its namespace, lo up by the loopback plugin, eth0 by the chain. */
  function addPod(conflist: string, podName: string): { podNs: string; containerId: string; run: ChainRun } {
    const podNs = createNetns(`${PREFIX}p`);
    created.push(podNs);
    const containerId = `netdiag-tap-${podName}`;
    const lo = callPlugin('ADD', podNs, containerId, podName, 'loopback', { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' }, 'lo');
    if (!lo.ok) throw new Error(`loopback ADD failed: ${lo.stdout} ${lo.stderr}`);
    const run = runChain('ADD', conflist, podNs, containerId, podName);
    if (run.result !== undefined) added.push({ podNs, containerId, conflist, result: run.result });
    return { podNs, containerId, run };
  }

  function cli(args: string[]): ReturnType<typeof tryRun> {
    return tryRun(process.execPath, [CLI, ...args]);
  }

  function recordFiles(recordDir: string): CniRecordFile[] {
    if (!existsSync(recordDir)) return [];
    return readdirSync(recordDir)
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => ({ path: join(recordDir, n), content: readFileSync(join(recordDir, n), 'utf8') }));
  }

  function records(recordDir: string): Record<string, unknown>[] {
    return recordFiles(recordDir).flatMap((f) => (f.content ?? '').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>));
  }

  function podObject(name: string, ip: string | undefined, phase: string): KubePod {
    return {
      metadata: { name, namespace: 'default', creationTimestamp: '2000-01-01T00:00:00Z' },
      spec: { nodeName: 'node1' },
      status: { phase, ...(ip !== undefined ? { podIP: ip, podIPs: [{ ip }] } : {}) },
    };
  }

  function cluster(pods: KubePod[], confDir: string, recordDir: string): ClusterState {
    const conf = readdirSync(confDir)
      .sort()
      .map((n) => ({ path: `/etc/cni/net.d/${n}`, content: readFileSync(join(confDir, n), 'utf8') }));
    return {
      objects: { nodes: [{ metadata: { name: 'node1' } }], pods, services: [], endpointSlices: [], networkPolicies: [], daemonSets: [] },
      netns: { nodes: {}, pods: {} },
      cniConfigs: { node1: conf },
      cniRecords: { node1: recordFiles(recordDir) },
    };
  }

  /** Makes the values that differ between two pods (addresses, MACs, netns, veth names) comparable. */
  function shape(result: unknown): unknown {
    return JSON.parse(JSON.stringify(result), (key: string, value: unknown) => {
      if (key === 'mac' || key === 'sandbox') return `<${key}>`;
      if (key === 'address' && typeof value === 'string') return value.replace(/^[\d.]+/, '<ip>');
      if (key === 'name' && typeof value === 'string' && value.startsWith('veth')) return '<veth>';
      return value;
    }) as unknown;
  }

  beforeAll(() => {
    if (!existsSync(TAP_MAIN) || !existsSync(CLI)) throw new Error(`${TAP_MAIN} or ${CLI} is missing: run \`npm run build\` first`);
    dir = mkdtempSync(join(tmpdir(), 'netdiag-cni-tap-'));
    binDir = join(dir, 'bin');
    mkdirSync(binDir);
    provisionBinaries(binDir, ['cni-plugins']);
    // As the package's `bin` install does: the built entry is executable, run through its shebang.
    chmodSync(TAP_MAIN, 0o755);
    symlinkSync(TAP_MAIN, join(binDir, 'netdiag-cni-tap'));
    nodeNs = createNetns(`${PREFIX}n`);
    created.push(nodeNs);
  });

  afterAll(() => {
    for (const { podNs, containerId, conflist, result } of added.reverse()) {
      if (nodeNs !== '') runChain('DEL', conflist, podNs, containerId, 'cleanup', result);
    }
    for (const ns of created.reverse()) destroyNetns(ns);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('records a tapped chain whose result is the untapped chain\'s; uninstall restores the conflist byte for byte', () => {
    const confDir = join(dir, 'net.d');
    const recordDir = join(dir, 'records');
    mkdirSync(confDir);
    const original = bridgeConflist('tap-net', 'ndtapbr0', { subnet: '10.251.0.0/24', routes: [{ dst: '0.0.0.0/0' }] }, join(dir, 'ipam'));
    writeFileSync(join(confDir, '10-tap.conflist'), original);

    const plain = addPod(original, 'plain');
    expect(plain.run.failed).toBeUndefined();

    const install = cli(['cni-tap', 'install', '--conf-dir', confDir, '--record-dir', recordDir]);
    expect(install).toMatchObject({ ok: true });
    expect(cli(['cni-tap', 'install', '--conf-dir', confDir]).stdout).toMatch(/already holds the tap/);
    const tapped = readFileSync(join(confDir, '10-tap.conflist'), 'utf8');
    expect((JSON.parse(tapped) as Conflist).plugins.map((p) => p.type)).toEqual(['netdiag-cni-tap', 'bridge', 'netdiag-cni-tap']);

    const pod = addPod(tapped, 'tapped');
    expect(pod.run.failed).toBeUndefined();
    // The runtime gets exactly what bridge answered, and the same shape of result as without the tap.
    const bridgeOut = JSON.parse(pod.run.outputs[1]?.stdout ?? 'null') as unknown;
    expect(pod.run.result).toEqual(bridgeOut);
    expect(shape(pod.run.result)).toEqual(shape(plain.run.result));
    expect(JSON.parse(pod.run.outputs[0]?.stdout ?? 'null')).toEqual({ cniVersion: '1.0.0' });

    const recs = records(recordDir);
    expect(recs.map((r) => `${String(r.command)} ${String(r.position)}`)).toEqual(['ADD head', 'ADD tail']);
    expect(recs[0]).toMatchObject({ containerId: pod.containerId, netns: `/run/netns/${pod.podNs}`, ifname: 'eth0', network: 'tap-net', config: { chain: ['bridge'], position: 'head' } });
    expect(recs[0]).not.toHaveProperty('config.prevResult');
    expect(recs[1]).toMatchObject({ containerId: pod.containerId, result: pod.run.result });

    // The diagnostor on these real records and the pod's real netns: healthy, nothing raised.
    const address = ((pod.run.result as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0];
    const state = cluster([podObject('tapped', address, 'Running')], confDir, recordDir);
    const netns = buildNetnsState(dumpNamespace(pod.podNs, 'default/tapped'));
    expect(cniRecordFindings({ cluster: state, pods: ['default/tapped'], nodes: ['node1'], netnsOf: () => netns })).toEqual({ suspicions: [], warnings: [] });
    // Another address on the pod's eth0 than the result's: CniResultMismatch, from the real dump.
    tryRun('ip', ['-n', pod.podNs, 'addr', 'flush', 'dev', 'eth0']);
    const moved = buildNetnsState(dumpNamespace(pod.podNs, 'default/tapped'));
    expect(cniRecordFindings({ cluster: state, pods: ['default/tapped'], nodes: ['node1'], netnsOf: () => moved }).suspicions.map((s) => s.code)).toEqual(['CniResultMismatch']);

    // DEL in reverse: tail first, then head; both recorded.
    const del = runChain('DEL', tapped, pod.podNs, pod.containerId, 'tapped', pod.run.result);
    expect(del.failed).toBeUndefined();
    added.splice(added.findIndex((a) => a.containerId === pod.containerId), 1);
    expect(records(recordDir).slice(2).map((r) => `${String(r.command)} ${String(r.position)}`)).toEqual(['DEL tail', 'DEL head']);

    expect(cli(['cni-tap', 'uninstall', '--conf-dir', confDir])).toMatchObject({ ok: true });
    expect(readFileSync(join(confDir, '10-tap.conflist'), 'utf8')).toBe(original);
    expect(readdirSync(confDir)).toEqual(['10-tap.conflist']);
  });

  it('leaves a head-only record when a plugin of the chain fails, which the diagnostor reports as CniAddFailed', () => {
    const confDir = join(dir, 'net.d-broken');
    const recordDir = join(dir, 'records-broken');
    mkdirSync(confDir);
    // host-local cannot allocate from a range whose start lies outside its subnet.
    const broken = bridgeConflist('broken-net', 'ndtapbr1', { ranges: [[{ subnet: '10.252.0.0/24', rangeStart: '10.253.0.10' }]] }, join(dir, 'ipam-broken'));
    writeFileSync(join(confDir, '20-broken.conflist'), broken);
    expect(cli(['cni-tap', 'install', '--conf-dir', confDir, '--record-dir', recordDir])).toMatchObject({ ok: true });
    const tapped = readFileSync(join(confDir, '20-broken.conflist'), 'utf8');

    const pod = addPod(tapped, 'broken');
    expect(pod.run.failed?.type).toBe('bridge');
    expect(records(recordDir).map((r) => `${String(r.command)} ${String(r.position)}`)).toEqual(['ADD head']);

    const state = cluster([podObject('broken', undefined, 'Pending')], confDir, recordDir);
    const found = cniRecordFindings({ cluster: state, pods: ['default/broken'], nodes: ['node1'], netnsOf: () => undefined });
    expect(found.suspicions).toEqual([
      {
        level: 'critical',
        node: 'default/broken',
        code: 'CniAddFailed',
        message: expect.stringContaining(`(container ${pod.containerId}, eth0) on node1`),
      },
    ]);
    expect(found.suspicions[0]?.message).toMatch(/one of the plugins between the head and the tail \(bridge\) failed: the tail of the chain was never called/);
  });

  it('passes every call through when its record directory cannot be written', () => {
    const notADir = join(dir, 'a-file');
    writeFileSync(notADir, 'x');
    const conflist = bridgeConflist('norec-net', 'ndtapbr2', { subnet: '10.254.0.0/24' }, join(dir, 'ipam-norec'));
    const list = JSON.parse(conflist) as Conflist;
    const tap = (position: string): Record<string, unknown> => ({ type: 'netdiag-cni-tap', position, chain: ['bridge'], recordDir: join(notADir, 'records') });
    const tapped = JSON.stringify({ ...list, plugins: [tap('head'), ...list.plugins, tap('tail')] });

    const pod = addPod(tapped, 'norec');
    expect(pod.run.failed).toBeUndefined();
    expect(pod.run.result).toEqual(JSON.parse(pod.run.outputs[1]?.stdout ?? 'null'));
    expect(pod.run.outputs[0]?.stderr).toMatch(/netdiag-cni-tap: the call was not recorded in .*a-file\/records: (ENOTDIR|.*not a directory)/);
    expect(pod.run.outputs[2]?.stderr).toMatch(/netdiag-cni-tap: the call was not recorded/);
  });
});
