// `netdiag collect` on a node built from network namespaces, as the agent runs: the built command,
// as root. The snapshot must say exactly what was built (links of every kind, addresses, routes in
// several tables, policy rules of both families, neighbours, FDB, unusual sysctls, iptables in
// both backends, nftables, ipset, listeners and their processes, CNI files), validate against the
// published schema, and its host namespace must be consumable by the trace engine as is.
//
//   remote (10.213.9.2) --eth0-- host (eth0 10.213.9.1, br0 10.213.0.1 + fd00:213::1, vx0 10.213.42.1)
//                                  br0 -- veth-p1 -- p1 (10.213.0.2)
//                                  br0 -- veth-p2 -- p2 (10.213.0.3, fd00:213::3)
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonItem, NamespaceSnapshot, Snapshot } from '../../src/collector/snapshot.js';
import { buildHostFromDumps, buildPacket, parseIp, traceHost, type IpAddress } from '../../src/diagnosis/index.js';
import { createNetns, createVethPair, destroyNetns, ipIn, run, runIn } from '../support/netns.js';
import { startListeners, type Listeners } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';
import { snapshotSchemaErrors } from '../support/snapshot-schema.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

const HOST_LEGACY = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:NDT-FORWARD - [0:0]
-A FORWARD -j NDT-FORWARD
-A NDT-FORWARD -s 10.213.0.0/24 -j ACCEPT
COMMIT
`;
const HOST_NFT = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 10.213.0.0/24 -o eth0 -j MASQUERADE
COMMIT
`;
const HOST_NFT6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 9 -j DROP
COMMIT
`;
const HOST_NATIVE_NFT = 'table inet ndtest {\n chain in {\n  type filter hook input priority 10; policy accept;\n  tcp dport 9999 drop\n }\n}\n';
const P2_LEGACY = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15001
COMMIT
`;

describeAsRoot('netdiag collect on a node of network namespaces', () => {
  let host = '';
  let p1 = '';
  let p2 = '';
  let remote = '';
  let scratch = '';
  const listeners: Listeners[] = [];
  let snapshot: Snapshot;
  let stderr = '';

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
    scratch = mkdtempSync(join(tmpdir(), 'netdiag-collect-'));
    host = createNetns('ndc-h-');
    p1 = createNetns('ndc-p1-');
    p2 = createNetns('ndc-p2-');
    remote = createNetns('ndc-r-');

    // Underlay, bridge, pods, vxlan.
    createVethPair(host, 'eth0', remote, 'eth0');
    ipIn(host, ['addr', 'add', '10.213.9.1/24', 'dev', 'eth0']);
    ipIn(remote, ['addr', 'add', '10.213.9.2/24', 'dev', 'eth0']);
    ipIn(host, ['link', 'add', 'br0', 'type', 'bridge']);
    ipIn(host, ['link', 'set', 'br0', 'up']);
    ipIn(host, ['addr', 'add', '10.213.0.1/24', 'dev', 'br0']);
    ipIn(host, ['addr', 'add', 'fd00:213::1/64', 'dev', 'br0', 'nodad']);
    for (const [pod, dev, ip] of [[p1, 'veth-p1', '10.213.0.2'], [p2, 'veth-p2', '10.213.0.3']] as const) {
      createVethPair(host, dev, pod, 'eth0');
      ipIn(host, ['link', 'set', dev, 'master', 'br0']);
      ipIn(pod, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      ipIn(pod, ['route', 'add', 'default', 'via', '10.213.0.1']);
    }
    ipIn(p2, ['addr', 'add', 'fd00:213::3/64', 'dev', 'eth0', 'nodad']);
    ipIn(host, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', '10.213.9.1', 'dev', 'eth0', 'dstport', '4789', 'nolearning']);
    ipIn(host, ['link', 'set', 'vx0', 'up']);
    ipIn(host, ['addr', 'add', '10.213.42.1/24', 'dev', 'vx0']);
    runIn(host, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', '10.213.9.2']);

    // Routes in several tables, policy rules of both families, a permanent neighbour.
    ipIn(host, ['route', 'add', 'default', 'via', '10.213.42.2', 'dev', 'vx0']);
    ipIn(host, ['route', 'add', '10.50.0.0/16', 'via', '10.213.9.2', 'dev', 'eth0', 'table', '100']);
    ipIn(host, ['route', 'add', 'blackhole', '10.60.0.0/16', 'table', '200']);
    ipIn(host, ['-6', 'route', 'add', 'fd00:99::/64', 'via', 'fd00:213::3', 'dev', 'br0', 'table', '100']);
    ipIn(host, ['rule', 'add', 'from', '10.213.0.0/24', 'lookup', '100', 'pref', '100']);
    ipIn(host, ['rule', 'add', 'fwmark', '0x10', 'lookup', '200', 'pref', '200']);
    ipIn(host, ['-6', 'rule', 'add', 'from', 'fd00:213::/64', 'lookup', '100', 'pref', '300']);
    ipIn(host, ['neigh', 'add', '10.213.9.99', 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'permanent']);

    // Netfilter in both backends, a native nftables table, a set.
    run('ip', ['netns', 'exec', host, 'iptables-legacy-restore'], { input: HOST_LEGACY });
    run('ip', ['netns', 'exec', host, 'iptables-nft-restore'], { input: HOST_NFT });
    run('ip', ['netns', 'exec', host, 'ip6tables-nft-restore'], { input: HOST_NFT6 });
    run('ip', ['netns', 'exec', host, 'nft', '-f', '-'], { input: HOST_NATIVE_NFT });
    runIn(host, 'ipset', ['create', 'ndt-set', 'hash:ip']);
    runIn(host, 'ipset', ['add', 'ndt-set', '10.213.0.2']);
    run('ip', ['netns', 'exec', p2, 'iptables-legacy-restore'], { input: P2_LEGACY });

    // Sysctls set to unusual values.
    for (const [ns, key, value] of [
      [host, 'net.ipv4.ip_forward', '1'],
      [host, 'net.ipv4.conf.br0.rp_filter', '2'],
      [host, 'net.ipv4.conf.eth0.proxy_arp', '1'],
      [host, 'net.ipv4.conf.br0.route_localnet', '1'],
      [host, 'net.ipv4.conf.eth0.arp_ignore', '2'],
      [host, 'net.ipv4.conf.eth0.arp_announce', '1'],
      [host, 'net.ipv4.conf.vx0.forwarding', '0'],
      [p1, 'net.ipv4.conf.eth0.rp_filter', '2'],
    ] as const) {
      runIn(ns, 'sysctl', ['-qw', `${key}=${value}`]);
    }

    // Listeners: on the host, and in the pods.
    listeners.push(await startListeners(host, [{ protocol: 'tcp', address: '10.213.0.1', port: 7777 }]));
    listeners.push(await startListeners(p1, [{ protocol: 'tcp', address: '0.0.0.0', port: 8080 }, { protocol: 'udp', address: '0.0.0.0', port: 5353 }]));

    // CNI configuration and records.
    const confDir = join(scratch, 'net.d');
    const recordDir = join(scratch, 'records');
    mkdirSync(confDir);
    mkdirSync(recordDir);
    writeFileSync(join(confDir, '10-bridge.conflist'), '{"cniVersion":"1.0.0","name":"ndt","plugins":[{"type":"bridge","bridge":"br0"}]}\n');
    writeFileSync(join(confDir, '99-loopback.conf'), '{"cniVersion":"1.0.0","name":"lo","type":"loopback"}\n');
    writeFileSync(join(recordDir, 'node.jsonl'), '{"command":"ADD","containerId":"abc"}\n');

    const pods = [
      { namespace: 'default', name: 'p1', uid: 'uid-p1', ips: ['10.213.0.2'] },
      { namespace: 'default', name: 'p2', ips: ['10.213.0.3', 'fd00:213::3'] },
      { namespace: 'kube-system', name: 'hostnet', ips: ['10.213.9.1'], hostNetwork: true },
      { namespace: 'default', name: 'ghost', ips: ['10.213.0.99'] },
    ];
    writeFileSync(join(scratch, 'pods.json'), JSON.stringify(pods));
    const out = join(scratch, 'snapshot.json');
    const result = spawnSync(
      process.execPath,
      [cli, 'collect', '--host-netns', `/run/netns/${host}`, '--node', 'node-a', '--pods', join(scratch, 'pods.json'), '--out', out, '--no-cri', '--cni-conf-dir', confDir, '--cni-record-dir', recordDir],
      { encoding: 'utf8' },
    );
    stderr = result.stderr;
    if (result.status !== 0) throw new Error(`netdiag collect failed (${result.status}):\n${result.stderr}`);
    snapshot = JSON.parse(readFileSync(out, 'utf8')) as Snapshot;
  }, 60_000);

  afterAll(async () => {
    for (const l of listeners) await l.stop();
    for (const ns of [host, p1, p2, remote]) if (ns !== '') destroyNetns(ns);
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  const hostNs = (): NamespaceSnapshot => snapshot.namespaces[0] as NamespaceSnapshot;
  const pod = (name: string): NamespaceSnapshot => {
    const found = snapshot.namespaces.find((n) => n.pod?.name === name);
    if (found === undefined) throw new Error(`no namespace for pod ${name} in the snapshot`);
    return found;
  };
  const list = (item: JsonItem): Array<Record<string, unknown>> => {
    expect(item.error).toBeUndefined();
    return item.data as Array<Record<string, unknown>>;
  };

  it('validates against schemas/snapshot.schema.json', () => {
    expect(snapshotSchemaErrors(snapshot)).toEqual([]);
    expect(snapshot.node.name).toBe('node-a');
    expect(snapshot.discovery.method).toBe('proc');
    expect(stderr).toMatch(/collect: snapshot: host \+ 2 pod namespace\(s\), 1 hostNetwork pod\(s\), 1 pod\(s\) NOT FOUND/);
  });

  it('finds the host and both pods by IP, the hostNetwork pod on the host, and names the pod it could not find', () => {
    expect(hostNs().kind).toBe('host');
    expect(hostNs().netns).toMatchObject({ path: `/run/netns/${host}`, names: [host] });
    expect(hostNs().netns.foundBy).toContain('host');
    expect(pod('p1')).toMatchObject({ kind: 'pod', matchedBy: 'ip', pod: { namespace: 'default', name: 'p1', uid: 'uid-p1' }, netns: { path: `/run/netns/${p1}`, foundBy: ['proc', 'run-netns'], processCount: 1 } });
    expect(pod('p1').netns.pids).toEqual([pod('p1').netstack.sockets.owners[0]?.pid]);
    expect(pod('p2').netns.path).toBe(`/run/netns/${p2}`);
    expect(snapshot.hostNetworkPods.map((p) => p.name)).toEqual(['hostnet']);
    // (Other suites' namespaces may vanish while this one runs: the reason then says so, after this.)
    expect(snapshot.podsNotFound).toEqual([{ pod: { namespace: 'default', name: 'ghost', ips: ['10.213.0.99'] }, reason: expect.stringMatching(/^no network namespace on the node holds 10\.213\.0\.99\b/) as unknown }]);
    expect(snapshot.complete).toBe(false);
    const remoteNs = snapshot.unmatchedNamespaces.find((u) => u.netns.names?.includes(remote));
    expect(remoteNs?.addresses).toEqual(['10.213.9.2']);
  });

  it('records the links with their details: bridge, ports, vxlan, veth', () => {
    const links = new Map(list(hostNs().netstack.links).map((l) => [l.ifname, l]));
    expect(links.get('br0')).toMatchObject({ linkinfo: { info_kind: 'bridge' } });
    expect(links.get('veth-p1')).toMatchObject({ master: 'br0', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' } });
    expect(links.get('vx0')).toMatchObject({ linkinfo: { info_kind: 'vxlan', info_data: { id: 42, local: '10.213.9.1', port: 4789, link: 'eth0' } } });
    expect(links.get('eth0')).toMatchObject({ flags: expect.arrayContaining(['UP']) as unknown, linkinfo: { info_kind: 'veth' } });
    expect(hostNs().netstack.links.batch).toBe('ip -j -d -force -batch -');
    expect(hostNs().netstack.links.command).toEqual(['ip', '-j', '-d', 'link', 'show']);
  });

  it('records addresses of both families', () => {
    const addresses = list(hostNs().netstack.addresses).flatMap((l) => (l.addr_info as Array<{ local: string; prefixlen: number }>).map((a) => `${String(l.ifname)} ${a.local}/${a.prefixlen}`));
    expect(addresses).toEqual(expect.arrayContaining(['br0 10.213.0.1/24', 'br0 fd00:213::1/64', 'eth0 10.213.9.1/24', 'vx0 10.213.42.1/24']));
    const p2Addresses = list(pod('p2').netstack.addresses).flatMap((l) => (l.addr_info as Array<{ local: string }>).map((a) => a.local));
    expect(p2Addresses).toEqual(expect.arrayContaining(['10.213.0.3', 'fd00:213::3']));
  });

  it('records routes of every table and both families', () => {
    const routes = list(hostNs().netstack.routes);
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.213.42.2', dev: 'vx0', table: 'main' }),
        expect.objectContaining({ dst: '10.50.0.0/16', gateway: '10.213.9.2', dev: 'eth0', table: '100' }),
        expect.objectContaining({ type: 'blackhole', dst: '10.60.0.0/16', table: '200' }),
        expect.objectContaining({ dst: 'fd00:99::/64', gateway: 'fd00:213::3', dev: 'br0', table: '100' }),
        expect.objectContaining({ type: 'local', dst: '10.213.0.1', table: 'local' }),
      ]),
    );
  });

  it('records the policy rules of both families', () => {
    expect(list(hostNs().netstack.rules)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ priority: 100, src: '10.213.0.0', srclen: 24, table: '100' }),
        expect.objectContaining({ priority: 200, fwmark: '0x10', table: '200' }),
      ]),
    );
    expect(list(hostNs().netstack.rules6)).toEqual(expect.arrayContaining([expect.objectContaining({ priority: 300, src: 'fd00:213::', srclen: 64, table: '100' })]));
  });

  it('records neighbours and the forwarding database', () => {
    expect(list(hostNs().netstack.neighbors)).toEqual(expect.arrayContaining([expect.objectContaining({ dst: '10.213.9.99', dev: 'eth0', lladdr: '02:00:00:00:00:99', state: ['PERMANENT'] })]));
    expect(list(hostNs().netstack.fdb)).toEqual(expect.arrayContaining([expect.objectContaining({ mac: '00:00:00:00:00:00', ifname: 'vx0', dst: '10.213.9.2' })]));
    expect(pod('p1').netstack.fdb).toMatchObject({ exitCode: null, skipped: 'no bridge, bridge port or vxlan device in the namespace' });
  });

  it('records the sysctls as set, in sysctl format', () => {
    const host = hostNs().netstack.sysctls.output ?? '';
    for (const line of [
      'net.ipv4.ip_forward = 1',
      'net.ipv4.conf.br0.rp_filter = 2',
      'net.ipv4.conf.eth0.proxy_arp = 1',
      'net.ipv4.conf.br0.route_localnet = 1',
      'net.ipv4.conf.eth0.arp_ignore = 2',
      'net.ipv4.conf.eth0.arp_announce = 1',
      'net.ipv4.conf.vx0.forwarding = 0',
      'net.ipv4.conf.eth0.forwarding = 1',
    ]) {
      expect(host.split('\n')).toContain(line);
    }
    expect(host).toMatch(/^net\.netfilter\.nf_conntrack_max = \d+$/m);
    const p1 = pod('p1').netstack.sysctls.output ?? '';
    expect(p1.split('\n')).toEqual(expect.arrayContaining(['net.ipv4.conf.eth0.rp_filter = 2', 'net.ipv4.ip_forward = 0']));
  });

  it('records iptables from both backends, saying which hold rules', () => {
    const { iptables, ip6tables } = hostNs().netstack;
    expect(iptables.backends).toEqual(['legacy', 'nft']);
    expect(iptables.legacy.output).toContain('-A NDT-FORWARD -s 10.213.0.0/24 -j ACCEPT');
    expect(iptables.legacy.output).toContain(':FORWARD DROP');
    expect(iptables.nft.output).toContain('-A POSTROUTING -s 10.213.0.0/24 -o eth0 -j MASQUERADE');
    expect(ip6tables.backends).toEqual(['nft']);
    expect(ip6tables.nft.output).toContain('-A INPUT -p tcp -m tcp --dport 9 -j DROP');
    const p2Rules = pod('p2').netstack.iptables;
    expect(p2Rules.backends).toEqual(['legacy']);
    expect(p2Rules.legacy.output).toContain('-A OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 15001');
    expect(p2Rules.nft).toMatchObject({ exitCode: null, skipped: 'the nftables ruleset has no table of family ip' });
    expect(pod('p1').netstack.iptables.backends).toEqual([]);
  });

  it('records the nftables ruleset, the sets and what it did about IPVS', () => {
    const nft = hostNs().netstack.nftables.data as { nftables: Array<Record<string, { family?: string; name?: string }>> };
    const tables = nft.nftables.flatMap((e) => (e.table !== undefined ? [`${e.table.family} ${e.table.name}`] : []));
    expect(tables).toEqual(expect.arrayContaining(['inet ndtest', 'ip nat', 'ip6 filter']));
    // The host's native table made the whole ruleset worth dumping; a pod with iptables-nft tables
    // only, or none, skips it (iptables-nft-save holds those rules).
    expect(hostNs().netstack.nftChains.output).toMatch(/^table inet ndtest \{$/m);
    for (const name of ['p1', 'p2']) {
      expect(pod(name).netstack.nftables).toMatchObject({ exitCode: null, skipped: expect.stringMatching(/^no nftables table but those iptables-nft manages/) });
    }
    expect(hostNs().netstack.ipset.output).toMatch(/^create ndt-set hash:ip .*\nadd ndt-set 10\.213\.0\.2\n/m);
    // This kernel has no ip_vs: recorded, and ipvsadm (which would try to load it) was not run.
    const ipvs = hostNs().netstack.ipvs;
    expect(ipvs.skipped !== undefined || ipvs.error !== undefined).toBe(true);
  });

  it('records listening sockets and the processes holding them', () => {
    const host = hostNs().netstack.sockets;
    expect(host.listening.output).toMatch(/^tcp\s+LISTEN\s.*10\.213\.0\.1:7777\s.*ino:\d+/m);
    expect(host.owners).toEqual([expect.objectContaining({ comm: 'node' })]);
    const p1 = pod('p1').netstack.sockets;
    expect(p1.listening.output).toMatch(/^tcp\s+LISTEN\s.*0\.0\.0\.0:8080\s/m);
    expect(p1.listening.output).toMatch(/^udp\s+UNCONN\s.*0\.0\.0\.0:5353\s/m);
    expect(p1.owners).toHaveLength(2);
    expect(new Set(p1.owners.map((o) => o.pid)).size).toBe(1);
    expect(p1.ownersIncomplete).toBeUndefined();
  });

  it('records the CNI configuration, the records, the tools and the node', () => {
    expect(snapshot.cni.configFiles.map((f) => [f.path.split('/').pop(), f.content?.includes('"cniVersion":"1.0.0"')])).toEqual([
      ['10-bridge.conflist', true],
      ['99-loopback.conf', true],
    ]);
    expect(snapshot.cni.records).toEqual([expect.objectContaining({ content: '{"command":"ADD","containerId":"abc"}\n' })]);
    expect(snapshot.tools.ip?.output).toMatch(/iproute2/);
    expect(snapshot.tools.nft?.output).toMatch(/^nftables v/);
    expect(snapshot.tools['iptables-nft']?.output).toMatch(/\(nf_tables\)/);
    expect(snapshot.node.kernel.release).not.toBe('');
  });

  it('gives the trace engine a host it can walk: policy routing to table 100, then MASQUERADE on eth0', () => {
    const n = hostNs().netstack;
    const dump = (item: JsonItem, source: string): { text: string; source: string } => ({ text: JSON.stringify(item.data), source });
    const built = buildHostFromDumps(
      {
        iptablesSave: { text: n.iptables.nft.output ?? '', source: 'host iptables-nft-save' },
        ipsetSave: { text: n.ipset.output ?? '', source: 'host ipset save' },
        routes: dump(n.routes, 'host routes'),
        rules: dump(n.rules, 'host rules'),
        links: dump(n.links, 'host links'),
        addresses: dump(n.addresses, 'host addresses'),
        sysctls: { text: n.sysctls.output ?? '', source: 'host sysctls' },
        family: 4,
      },
      ['br0'],
    );
    expect(built.warnings).toEqual([]);
    const ip = (text: string): IpAddress => parseIp(text) as IpAddress;
    const result = traceHost(built.input, { packet: buildPacket({ protocol: 'tcp', src: ip('10.213.0.2'), dst: ip('10.50.1.1'), sport: 40000, dport: 80 }), iif: 'br0' });
    expect(result.verdict).toBe('ACCEPT');
    // Only the rule `from 10.213.0.0/24 lookup 100` sends it out of eth0 (main would use vx0).
    expect(result.masquerade).toBe(true);
    expect(result.hits.map((h) => `${h.table} ${h.chain} ${h.target}`)).toContain('nat POSTROUTING MASQUERADE');
  });
});
