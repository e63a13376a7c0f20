// The CNI chain executor against the real reference plugins (bridge, host-local, tuning) run inside
// a node namespace, plus a recording plugin (any `type` found in CNI_PATH is run: that is how a tap
// is chained) that shows what each call got: configuration, prevResult, CNI_* variables.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cachedResult,
  cachePath,
  cniAdd,
  cniCheck,
  cniDel,
  CniConfigError,
  CniError,
  parseConflist,
  podCniArgs,
  resultIPv4,
  type CniRuntime,
  type CniRuntimeConf,
} from '../../../src/lab/networks/cni-exec.js';
import { provisionBinaries } from '../../support/control-plane.js';
import { createNetns, destroyNetns, ipIn, runIn } from '../../support/netns.js';
import { describeAsRoot } from '../../support/root.js';

describe('parseConflist', () => {
  it.each([
    ['not JSON', '{', 'net.conflist: not JSON'],
    ['a list of lists', '[]', 'net.conflist: expected a JSON object (a network configuration list), got a list'],
    ['no name', '{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}', 'net.conflist: name: expected the network\'s name, got nothing'],
    ['a bad version', '{"name":"n","cniVersion":"1.0","plugins":[{"type":"bridge"}]}', 'net.conflist: cniVersion: expected a version such as "1.0.0", got "1.0"'],
    ['an unknown version', '{"name":"n","cniVersion":"9.9.9","plugins":[{"type":"bridge"}]}', 'net.conflist: cniVersion: unknown CNI spec version "9.9.9"'],
    ['a single configuration', '{"name":"n","cniVersion":"1.0.0","type":"bridge"}', 'net.conflist: plugins: missing: this is a single network configuration, not a list (.conflist)'],
    ['no plugin', '{"name":"n","cniVersion":"1.0.0","plugins":[]}', 'net.conflist: plugins: empty: a list needs at least one plugin'],
    ['a plugin without type', '{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"bridge"},{"bridge":"x"}]}', 'net.conflist: plugins[1].type: expected the plugin\'s type (its binary\'s name), got nothing'],
    ['a path as type', '{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"../bin/sh"}]}', 'net.conflist: plugins[0].type: "../bin/sh" is not a plugin name'],
    ['bad capabilities', '{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"portmap","capabilities":{"portMappings":"yes"}}]}', 'net.conflist: plugins[0].capabilities: expected an object of booleans, got an object'],
  ])('refuses %s, naming the file and field', (_, text, message) => {
    expect(() => parseConflist(text, 'net.conflist')).toThrow(CniConfigError);
    expect(() => parseConflist(text, 'net.conflist')).toThrow(message);
  });

  it('reads a valid list', () => {
    const list = parseConflist('{"name":"n","cniVersion":"0.4.0","plugins":[{"type":"flannel"},{"type":"portmap","capabilities":{"portMappings":true}}]}', 'f');
    expect(list.plugins.map((p) => p.type)).toEqual(['flannel', 'portmap']);
    expect(list.cniVersion).toBe('0.4.0');
  });
});

describe('resultIPv4', () => {
  it.each([
    [{ ips: [{ address: 'fd00::2/64' }, { address: '10.1.0.5/24' }] }, '10.1.0.5'],
    [{ ip4: { ip: '10.2.0.3/24' } }, '10.2.0.3'],
    [{ interfaces: [] }, undefined],
  ])('%j → %s', (result, ip) => {
    expect(resultIPv4(result)).toBe(ip);
  });
});

/** A CNI plugin (any type name) that records each call it gets and, for ADD, passes prevResult on. */
function recorderPlugin(recordDir: string): string {
  return `#!${process.execPath}
const fs = require('node:fs');
const input = fs.readFileSync(0, 'utf8');
const config = JSON.parse(input);
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
const n = fs.readdirSync(${JSON.stringify(recordDir)}).length;
fs.writeFileSync(${JSON.stringify(recordDir)} + '/' + String(n).padStart(3, '0') + '-' + env.CNI_COMMAND + '.json', JSON.stringify({ config, env }));
if (config.fail) {
  process.stdout.write(JSON.stringify({ cniVersion: config.cniVersion, code: 7, msg: 'told to fail', details: 'the recorder was configured with fail: true' }));
  process.exit(1);
}
if (env.CNI_COMMAND === 'ADD') process.stdout.write(JSON.stringify(config.prevResult ?? { cniVersion: config.cniVersion }));
`;
}

interface CallRecord {
  readonly config: { prevResult?: unknown; name: string; cniVersion: string; runtimeConfig?: unknown; [k: string]: unknown };
  readonly env: Readonly<Record<string, string>>;
}

describeAsRoot('CNI chain executor (real bridge, host-local, tuning)', () => {
  const prefix = 'ndl2cx';
  let dir = '';
  let nodeNs = '';
  const pods: string[] = [];
  let runtime: CniRuntime;
  let recordDir = '';
  const subnet = '10.250.7.0/24';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netdiag-cni-exec-'));
    const binDir = join(dir, 'bin');
    const tapDir = join(dir, 'extra-bin');
    recordDir = join(dir, 'records');
    for (const d of [binDir, tapDir, recordDir]) mkdirSync(d);
    provisionBinaries(binDir, ['cni-plugins']);
    writeFileSync(join(tapDir, 'recorder'), recorderPlugin(recordDir));
    chmodSync(join(tapDir, 'recorder'), 0o755);
    nodeNs = createNetns(`${prefix}node`);
    runtime = { nodeNetns: nodeNs, cniPath: [binDir, tapDir], cacheDir: join(dir, 'var', 'lib', 'cni') };
  });

  afterAll(() => {
    for (const ns of [...pods, nodeNs]) if (ns !== '') destroyNetns(ns);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const ipamDir = (): string => join(dir, 'ipam');
  const conflist = (extra: object[] = [], ipam: object = { type: 'host-local', subnet, dataDir: ipamDir() }): string =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'testnet',
      plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipam }, { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.rp_filter': '2' } }, ...extra],
    });
  const pod = (name: string): CniRuntimeConf => {
    const netns = createNetns(`${prefix}${name}`);
    pods.push(netns);
    const containerId = `ctr-${name}`;
    return { containerId, netns, ifName: 'eth0', args: podCniArgs({ namespace: 'default', name, uid: `uid-${name}`, containerId }), capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } };
  };
  const records = (): CallRecord[] =>
    readdirSync(recordDir)
      .sort()
      .map((f) => JSON.parse(readFileSync(join(recordDir, f), 'utf8')) as CallRecord);

  it('runs ADD through the chain in the node namespace, chaining prevResult, and caches the result', async () => {
    const list = parseConflist(conflist([{ type: 'recorder', capabilities: { portMappings: true } }]), 'testnet.conflist');
    const conf = pod('pod1');
    const result = await cniAdd(runtime, list, conf);
    const ip = resultIPv4(result);
    expect(ip).toMatch(/^10\.250\.7\.\d+$/);
    // The pod got the address; tuning (which only runs chained) set the sysctl in the pod.
    expect(ipIn(conf.netns, ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${ip}/24`);
    expect(runIn(conf.netns, 'sysctl', ['-n', 'net.ipv4.conf.eth0.rp_filter']).trim()).toBe('2');
    // The bridge was made in the node's namespace, not here.
    expect(ipIn(nodeNs, ['link', 'show', 'cni0'])).toContain('cni0');
    const [add] = records();
    expect(add?.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'ctr-pod1',
      CNI_NETNS: `/run/netns/${conf.netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: runtime.cniPath.join(':'),
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1;K8S_POD_INFRA_CONTAINER_ID=ctr-pod1;K8S_POD_UID=uid-pod1',
    });
    expect(add?.config).toMatchObject({ name: 'testnet', cniVersion: '1.0.0', type: 'recorder', runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
    expect((add?.config.prevResult as { ips: unknown[] }).ips).toEqual((result as { ips: unknown[] }).ips);
    expect(await cachedResult(runtime, list, conf)).toEqual(result);
    expect(JSON.parse(readFileSync(cachePath(runtime, list, conf), 'utf8'))).toMatchObject({ kind: 'cniCacheV1', containerId: 'ctr-pod1', ifName: 'eth0', networkName: 'testnet' });

    await cniCheck(runtime, list, conf);
    const check = records()[1];
    expect(check?.env.CNI_COMMAND).toBe('CHECK');
    expect(check?.config.prevResult).toEqual(result);

    // DEL: reverse order, each plugin with the cached ADD result; the address is released, the veth gone.
    const hostVeths = (): string[] => (JSON.parse(ipIn(nodeNs, ['-j', 'link', 'show', 'type', 'veth'])) as { ifname: string }[]).map((l) => l.ifname);
    expect(hostVeths()).toHaveLength(1);
    expect(existsSync(join(ipamDir(), 'testnet', ip ?? ''))).toBe(true);
    await cniDel(runtime, list, conf);
    const del = records()[2];
    expect(del?.env.CNI_COMMAND).toBe('DEL');
    expect(del?.config.prevResult).toEqual(result);
    expect(hostVeths()).toEqual([]);
    expect(existsSync(join(ipamDir(), 'testnet', ip ?? ''))).toBe(false);
    expect(existsSync(cachePath(runtime, list, conf))).toBe(false);
    // A second DEL (nothing cached, nothing left) is fine, as the spec wants.
    await cniDel(runtime, list, conf);
    expect(records()[3]?.config.prevResult).toBeUndefined();
  });

  it('carries a real plugin\'s error JSON with the plugin type and command', async () => {
    const list = parseConflist(conflist([], { type: 'host-local', subnet: '10.250.300.0/24', dataDir: ipamDir() }), 'bad.conflist');
    const error = await cniAdd(runtime, list, pod('pod2')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniError);
    const e = error as CniError;
    expect(e.pluginType).toBe('bridge');
    expect(e.command).toBe('ADD');
    expect(e.cniError?.code).toBeGreaterThan(0);
    expect(e.cniError?.msg).toMatch(/10\.250\.300\.0/);
    expect(e.message).toContain('CNI ADD of plugin "bridge"');
  });

  it('stops at a failing plugin in the middle of the chain and names it', async () => {
    const list = parseConflist(conflist([{ type: 'recorder', fail: true }, { type: 'recorder' }]), 'fail.conflist');
    const before = records().length;
    const conf = pod('pod3');
    const error = (await cniAdd(runtime, list, conf).catch((e: unknown) => e)) as CniError;
    expect(error).toBeInstanceOf(CniError);
    expect(error.pluginType).toBe('recorder');
    expect(error.cniError).toEqual({ code: 7, msg: 'told to fail', details: 'the recorder was configured with fail: true' });
    expect(error.message).toContain('code 7: told to fail (the recorder was configured with fail: true)');
    // The last plugin never ran; nothing was cached.
    expect(records().length).toBe(before + 1);
    expect(await cachedResult(runtime, list, conf)).toBeUndefined();
    // The runtime's cleanup: DEL releases what bridge/host-local had allocated (the failing plugin is told to fail on DEL too, so drop it).
    await cniDel(runtime, parseConflist(conflist(), 'ok.conflist'), conf);
    expect(readdirSync(join(ipamDir(), 'testnet')).filter((f) => /^\d/.test(f))).toEqual([]);
  });

  it('names a plugin missing from CNI_PATH', async () => {
    const list = parseConflist(JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'no-such-plugin' }] }), 'x.conflist');
    await expect(cniAdd(runtime, list, pod('pod4'))).rejects.toThrow(`failed to find plugin "no-such-plugin" in path [${runtime.cniPath.join(' ')}]`);
  });
});
