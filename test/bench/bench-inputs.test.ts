// The inputs the benches measure on: the node dumps parse as the CLI parses them and route as a
// node of a flat cluster does; the packets and lookups are what the benches say they are. (No
// timings here: figures come from `npm run bench`, never from a test.)
import { describe, expect, it } from '@jest/globals';
import { percentile, seededRandom } from '../../bench/bench.js';
import { buildNodeDumps, CLUSTER_CIDR, nodeAddress } from '../../bench/node-dumps.js';
import { buildRoutingQueries } from '../../bench/routing-inputs.js';
import { buildTraceQueries, TRACE_QUERY_KINDS } from '../../bench/trace-inputs.js';
import { buildHostFromDumps, buildPacket, parseIp, traceHost, type IpAddress } from '../../src/diagnosis/index.js';
import { lookupRoute } from '../../src/diagnosis/netstack/routing/index.js';
import { buildKubeProxyRules } from '../support/kube-proxy-rules.js';

const ip = (text: string): IpAddress => {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
};

const dumpsOf = (node: ReturnType<typeof buildNodeDumps>, iptablesSave = '') => ({
  iptablesSave: { text: iptablesSave, source: 'iptables-save' },
  routes: { text: node.routes, source: 'routes' },
  rules: { text: node.rules, source: 'rules' },
  links: { text: node.links, source: 'links' },
  addresses: { text: node.addresses, source: 'addresses' },
  sysctls: { text: node.sysctls, source: 'sysctls' },
  family: 4 as const,
});

describe('buildNodeDumps', () => {
  const node = buildNodeDumps({ nodes: 100, node: 1 });
  const host = buildHostFromDumps(dumpsOf(node));
  const routing = host.input.routing;
  if (routing === undefined) throw new Error('no routing');

  it('writes dumps the CLI reads without assuming anything', () => {
    expect(host.warnings).toEqual([]);
    expect(routing.warnings).toEqual([]);
    expect(node.nodeIp).toBe('10.0.0.11');
    expect(node.podCidr).toBe('10.244.1.0/24');
    expect(host.input.localAddresses.map((a) => a.value)).toEqual(expect.arrayContaining([ip('10.0.0.11').value, ip('10.244.1.1').value]));
    let routes = 0;
    for (const family of Object.values(routing.families)) for (const table of family.tables.values()) routes += table.size;
    expect(routes).toBe(node.routeCount);
  });

  it.each([
    ['another node\'s pod', '10.244.57.9', 'eth0', 'via 10.0.0.67'],
    ['a pod of this node', '10.244.1.9', 'cni0', 'on link'],
    ['another node', '10.0.0.70', 'eth0', 'on link'],
    ['the internet', '198.51.100.7', 'eth0', 'via 10.0.0.1'],
  ])('routes a packet from a local pod to %s (%s) out of %s %s', (_what, dst, dev, nextHop) => {
    const decision = lookupRoute(routing, { dst: ip(dst), src: ip('10.244.1.5'), iif: 'cni0' });
    expect(decision.kind).toBe('unicast');
    if (decision.kind !== 'unicast') return;
    const gateway = nextHop === 'on link' ? undefined : ip(nextHop.slice('via '.length)).value;
    expect(decision.nexthops.map((nh) => [nh.dev, nh.gateway?.value])).toEqual([[dev, gateway]]);
  });

  it('delivers the node\'s own address locally', () => {
    expect(lookupRoute(routing, { dst: ip('10.0.0.11'), src: ip('203.0.113.1'), iif: 'eth0' }).kind).toBe('local');
  });

  it('adds exactly the extra routes asked for, each reachable', () => {
    const big = buildNodeDumps({ nodes: 100, node: 1, extraRoutes: 4886 });
    expect(big.routeCount).toBe(5000);
    const bigRouting = buildHostFromDumps(dumpsOf(big)).input.routing;
    if (bigRouting === undefined) throw new Error('no routing');
    for (const q of buildRoutingQueries({ node: 1, nodes: 100, nodeIp: big.nodeIp, extraRoutes: 4886 }, 600, seededRandom(1))) {
      const decision = lookupRoute(bigRouting, { dst: ip(q.dst), ...(q.src !== undefined ? { src: ip(q.src) } : {}), ...(q.iif !== undefined ? { iif: q.iif } : {}) });
      expect(['unicast', 'local']).toContain(decision.kind);
    }
  });

  it('gives node k the address 10.0.0.10 + k', () => {
    expect([nodeAddress(0), nodeAddress(245), nodeAddress(246)]).toEqual(['10.0.0.10', '10.0.0.255', '10.0.1.0']);
    expect(() => buildNodeDumps({ nodes: 300, node: 1 })).toThrow('need 0 <= node < nodes <= 256');
  });
});

describe('buildTraceQueries', () => {
  const node = buildNodeDumps({ nodes: 100, node: 1 });
  const rules = buildKubeProxyRules({ services: 60, endpointsPerService: 4, nodeIp: node.nodeIp, clusterCidr: CLUSTER_CIDR });
  const context = { services: rules.services, nodeIp: node.nodeIp, node: 1, nodes: 100 };
  const queries = buildTraceQueries(context, 300, seededRandom(7));

  it('is deterministic for a seed and takes the kinds in turn', () => {
    expect(buildTraceQueries(context, 300, seededRandom(7))).toEqual(queries);
    expect(queries.slice(0, 6).map((q) => q.kind)).toEqual(TRACE_QUERY_KINDS);
  });

  it('sends pods in from cni0, outsiders in from eth0, and the node\'s own packets out', () => {
    for (const q of queries) {
      if (q.kind.startsWith('pod-')) expect([q.iif, q.src.startsWith('10.244.1.')]).toEqual(['cni0', true]);
      else if (q.kind.startsWith('outside-')) expect([q.iif, q.src.startsWith('10.244.'), q.src === node.nodeIp]).toEqual(['eth0', false, false]);
      else expect([q.iif, q.src]).toEqual([undefined, node.nodeIp]);
      const service = rules.services.find((s) => (q.kind.endsWith('node-port') ? q.dport === s.nodePort : q.dst === s.clusterIP));
      expect(service?.protocol).toBe(q.protocol);
      if (q.kind.endsWith('node-port')) expect(q.dst).toBe(node.nodeIp);
    }
  });

  it('reaches the endpoints of a service that has some, and is rejected for one that has none', () => {
    const host = buildHostFromDumps(dumpsOf(node, rules.text)).input;
    for (const q of queries.filter((x) => x.iif !== undefined)) {
      const result = traceHost(host, { packet: buildPacket({ protocol: q.protocol, src: ip(q.src), dst: ip(q.dst), sport: q.sport, dport: q.dport }), iif: q.iif });
      const service = rules.services.find((s) => (q.kind.endsWith('node-port') ? q.dport === s.nodePort : q.dst === s.clusterIP));
      const endpoints = service?.endpoints.map((e) => `${e.ip}:${e.port}`).sort();
      expect([result.verdict, [...result.destinations].sort()]).toEqual(endpoints?.length === 0 ? ['REJECT', []] : ['ACCEPT', endpoints]);
    }
  });
});

describe('percentile', () => {
  it.each([
    { name: '5,1,4,2,3', values: [5, 1, 4, 2, 3], p: 50, expected: 3 },
    { name: '5,1,4,2,3', values: [5, 1, 4, 2, 3], p: 100, expected: 5 },
    { name: '5,1,4,2,3', values: [5, 1, 4, 2, 3], p: 0, expected: 1 },
    { name: '1..100', values: Array.from({ length: 100 }, (_, i) => i + 1), p: 99, expected: 99 },
  ])('of $name at $p is $expected (nearest rank)', ({ values, p, expected }) => {
    expect(percentile(values, p)).toBe(expected);
  });
});
