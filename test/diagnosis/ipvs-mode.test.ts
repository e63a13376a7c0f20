// kube-proxy's ipvs mode on the recorded mini-cluster: node1's service rules are moved from
// iptables to IPVS, as that mode lays a node out (the ClusterIP on the dummy device kube-ipvs0,
// which stays down, with its local route; a virtual service with masquerading real servers; no
// DNAT rule in iptables). This kernel has no ip_vs module, so the dumps are edited by hand, in the
// format of `ipvsadm -Save -n` and `ip -j`.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { diagnose, type Diagnosis, type DiagnosisQuery, type NetnsDumps } from '../../src/diagnosis/index.js';
import { loadRecordedCluster } from '../support/recorded-cluster.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/mini-cluster', import.meta.url));
const VIP = '10.96.0.10';
const POD2 = '10.244.1.5';
const POD3 = '10.244.0.6';

const toSvc1: DiagnosisQuery = { source: { kind: 'pod', namespace: 'default', name: 'pod1' }, destination: { kind: 'service', namespace: 'default', name: 'svc1' }, port: 80, protocol: 'TCP' };

const edit = (text: string, f: (items: Record<string, unknown>[]) => Record<string, unknown>[]): string => JSON.stringify(f(JSON.parse(text) as Record<string, unknown>[]));

/** node1 in ipvs mode, with these real servers (`-r ADDRESS -m -w WEIGHT` lines). */
function ipvsMode(realServers: readonly (readonly [string, number])[]): (id: string, dumps: NetnsDumps) => NetnsDumps {
  return (id, d) => {
    if (id !== 'nodes/node1') return d;
    const ipvsadm = [`-A -t ${VIP}:80 -s rr`, ...realServers.map(([ip, weight]) => `-a -t ${VIP}:80 -r ${ip}:8080 -m -w ${weight}`)].join('\n');
    const dummy = { ifindex: 50, ifname: 'kube-ipvs0', flags: ['BROADCAST', 'NOARP'], mtu: 1500, operstate: 'DOWN', link_type: 'ether', address: '6e:1d:3c:00:00:50', linkinfo: { info_kind: 'dummy' } };
    return {
      ...d,
      links: { ...d.links, text: edit(d.links.text, (l) => [...l, dummy]) },
      addresses: {
        ...d.addresses,
        text: edit(d.addresses.text, (a) => [...a, { ...dummy, addr_info: [{ family: 'inet', local: VIP, prefixlen: 32, scope: 'global', label: 'kube-ipvs0' }] }]),
      },
      routes: { ...d.routes, text: edit(d.routes.text, (r) => [...r, { type: 'local', dst: VIP, dev: 'kube-ipvs0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: VIP, flags: [] }]) },
      iptablesSave: { ...d.iptablesSave, text: d.iptablesSave.text.replace(/^-A KUBE-SERVICES -d 10\.96\.0\.10\/32 .*\n/m, '') },
      ipvsSave: { text: `${ipvsadm}\n`, source: 'nodes/node1/ipvsadm-save' },
    };
  };
}

const serious = (d: Diagnosis): string[] => d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}`);

describe('kube-proxy in ipvs mode', () => {
  it('IPVS on node1 picks both endpoints; each reply is un-NATed back on node1: Reachable', () => {
    const d = diagnose(loadRecordedCluster(FIXTURES, ipvsMode([[POD3, 1], [POD2, 1]])), toSvc1);
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    const node1 = d.packetPath.nodes.find((n) => n.id === 'node1');
    expect(node1?.actions.filter((a) => a.kind === 'nat' && a.nat === 'IPVS').map((a) => (a.kind === 'nat' ? `${a.before} -> ${a.after}` : ''))).toEqual([
      `${VIP}:80 -> ${POD3}:8080`,
      `${VIP}:80 -> ${POD2}:8080`,
    ]);
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(['default/pod2', 'default/pod3']));
    // The reply's source is the ClusterIP again by the time pod1 gets it.
    expect(d.packetPath.links.filter((l) => l.direction === 'reply' && l.destination === 'default/pod1').map((l) => l.packet.after.split(' > ')[0])).toEqual([`tcp ${VIP}:80`, `tcp ${VIP}:80`]);
  });

  it('without the iptables rules and without IPVS, the service is not DNATed anywhere: ServiceRulesMissing', () => {
    const noIpvs = ipvsMode([]);
    const d = diagnose(
      loadRecordedCluster(FIXTURES, (id, dumps) => {
        const e = noIpvs(id, dumps);
        return id === 'nodes/node1' ? { ...e, ipvsSave: { text: '', source: 'nodes/node1/ipvsadm-save' } } : e;
      }),
      toSvc1,
    );
    expect(serious(d)).toContain('node1 ServiceRulesMissing');
  });

  it('a virtual service whose real servers all have weight 0: Unreachable, the kernel answers port unreachable', () => {
    const d = diagnose(loadRecordedCluster(FIXTURES, ipvsMode([[POD3, 0], [POD2, 0]])), toSvc1);
    expect(d.verdict).toBe('Unreachable');
    const s = d.suspicions.find((x) => x.code === 'ServiceNoEndpoints' && x.node === 'node1');
    expect(s?.message).toBe(`IPVS virtual service tcp ${VIP}:80 on node1 has no real server a scheduler may pick (2 with weight 0): the kernel answers a new connection with ICMP port unreachable`);
  });

  it('a stale real server and a missing one are named against the EndpointSlices; the stale branch fails', () => {
    const d = diagnose(loadRecordedCluster(FIXTURES, ipvsMode([[POD3, 1], ['10.244.1.99', 1]])), toSvc1);
    expect(d.verdict).toBe('Degraded');
    expect(d.suspicions.filter((s) => s.code === 'ServiceRulesStale' || s.code === 'ServiceRulesMissing').map((s) => `${s.level} ${s.node} ${s.code}: ${s.message}`)).toEqual([
      `critical node1 ServiceRulesMissing: IPVS virtual service tcp ${VIP}:80 on node1 has no real server for the ready endpoints ${POD2} of service default/svc1`,
      `critical node1 ServiceRulesStale: IPVS virtual service tcp ${VIP}:80 on node1 sends to 10.244.1.99, which is no ready endpoint of service default/svc1 (EndpointSlices)`,
    ]);
  });
});
