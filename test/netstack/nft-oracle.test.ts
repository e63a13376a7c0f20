// The real kernel is the oracle for the nftables evaluator. A router namespace loads small native
// nftables rule sets with `nft -f -` (a kube-proxy nftables-mode shaped table: a `service-ips`
// verdict map, two endpoints by `numgen random mod 2 vmap`, `mark-for-masquerade` and a
// `masquerading` postrouting chain; a filter chain dropping by port; rejects), the rule set is read
// back with `nft -j list ruleset`, and for each case the evaluator's prediction (prerouting, then
// forward, then postrouting, fed with the kernel's own dump) is compared with what real TCP
// connections from a client through the router did: connected (ACCEPT, with the address the
// backend saw as destination = the DNAT target, and as source = the masquerade address), refused
// (REJECT) or timed out (DROP). The same comparison is made for the whole host trace (traceHost
// over the router's own routes, links, addresses and sysctls, with its `nft -j` dump and no
// iptables rules), which interleaves the base chains with routing.
//
//   client (192.168.80.2) ── c0 | r0 (192.168.80.1)  ROUTER  r1 (192.168.81.1) | b0 ── backend
//                                                                                   (192.168.81.2,
//                                                                                    10.244.0.3, 10.244.0.4)
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { formatIp, parseIp, type IpAddress } from '../../src/diagnosis/model/ip.js';
import { buildPacket, type Packet } from '../../src/diagnosis/model/packet.js';
import { buildHostFromDumps } from '../../src/diagnosis/netstack/host-dumps.js';
import { traceHost } from '../../src/diagnosis/netstack/host-trace.js';
import { evaluateNftHook, parseNftRuleset, type NftEvalContext, type NftHook, type NftOutcome, type NftRuleset } from '../../src/diagnosis/netstack/nftables/index.js';
import { addAddress, createNamespace, deleteNamespace, exec, execIn, setSysctl, vethPair } from '../support/netns.js';
import { probeTcp, startListeners, type Listeners, type TcpProbeResult } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const CLIENT = '192.168.80.2';
const R0 = '192.168.80.1';
const R1 = '192.168.81.1';
const BACKEND = '192.168.81.2';
const EP1 = '10.244.0.3';
const EP2 = '10.244.0.4';
const ROUTER_ADDRS = [R0, R1];

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(`not an address: ${text}`);
  return a;
}

// kube-proxy's nftables mode, reduced to one service with two endpoints and one without any.
const KUBE_PROXY = `
table ip kube-proxy {
  map service-ips {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.96.0.10 . tcp . 80 : goto service-web }
  }
  map no-endpoint-services {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.96.0.12 . tcp . 80 comment "ns/empty:http" : goto reject-chain }
  }
  chain filter-prerouting {
    type filter hook prerouting priority dstnat - 10; policy accept;
    ct state new jump firewall-check
  }
  chain firewall-check {
    ip daddr . meta l4proto . th dport vmap @no-endpoint-services
  }
  chain reject-chain {
    reject
  }
  chain nat-prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump services
  }
  chain nat-postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    jump masquerading
  }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain mark-for-masquerade {
    mark set mark or 0x4000
  }
  chain masquerading {
    mark and 0x4000 == 0 return
    mark set mark xor 0x4000
    masquerade fully-random
  }
  chain service-web {
    ip saddr != 10.244.0.0/16 jump mark-for-masquerade
    numgen random mod 2 vmap { 0 : goto endpoint-1, 1 : goto endpoint-2 }
  }
  chain endpoint-1 {
    ip saddr ${EP1} jump mark-for-masquerade
    meta l4proto tcp dnat to ${EP1}:8080
  }
  chain endpoint-2 {
    ip saddr ${EP2} jump mark-for-masquerade
    meta l4proto tcp dnat to ${EP2}:8080
  }
}
`;

const FIREWALL = `
table ip firewall {
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    tcp dport 9000 drop
    tcp dport 9001 reject with tcp reset
    ip daddr ${BACKEND} tcp dport { 8080, 8081 } accept
    tcp dport 9002 reject with icmp type admin-prohibited
  }
}
`;

interface Case {
  readonly name: string;
  readonly rules: string;
  readonly dst: string;
  readonly dport: number;
}

const CASES: readonly Case[] = [
  { name: 'ClusterIP with two endpoints (numgen vmap, masquerade)', rules: KUBE_PROXY, dst: '10.96.0.10', dport: 80 },
  { name: 'ClusterIP with two endpoints, firewall loaded too', rules: KUBE_PROXY + FIREWALL, dst: '10.96.0.10', dport: 80 },
  { name: 'a service port not in service-ips: forwarded as is', rules: KUBE_PROXY, dst: BACKEND, dport: 8080 },
  { name: 'a service without endpoints: reject', rules: KUBE_PROXY, dst: '10.96.0.12', dport: 80 },
  { name: 'forward drop by port', rules: KUBE_PROXY + FIREWALL, dst: BACKEND, dport: 9000 },
  { name: 'forward reject with tcp reset', rules: FIREWALL, dst: BACKEND, dport: 9001 },
  { name: 'forward reject with icmp admin-prohibited', rules: FIREWALL, dst: BACKEND, dport: 9002 },
  { name: 'forward accept by anonymous set', rules: FIREWALL, dst: BACKEND, dport: 8081 },
];

/** What one attempt ended as, in the evaluator's words. */
interface Observed {
  readonly verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** ACCEPT: `address:port` the backend accepted on, and the peer it saw. */
  readonly destination?: string;
  readonly source?: string;
}

/** A forwarded packet from the client: prerouting, forward, postrouting (no local delivery here). */
function predict(ruleset: NftRuleset, packet: Packet): NftOutcome[] {
  const context = (hook: NftHook): NftEvalContext => ({
    inIface: 'r0',
    ...(hook === 'prerouting' ? {} : { outIface: 'r1' }),
    fibDaddrType: (p) => (ROUTER_ADDRS.includes(formatIp(p.dst)) ? 'local' : 'unicast'),
    masqueradeAddress: () => ip(R1),
  });
  let live: NftOutcome[] = [{ verdict: 'ACCEPT', reason: 'start', packet, natApplied: [], marks: { mark: 0, connmark: 0 }, trace: [], warnings: [], probability: 1 }];
  const done: NftOutcome[] = [];
  for (const hook of ['prerouting', 'forward', 'postrouting'] as const) {
    const next: NftOutcome[] = [];
    for (const o of live) {
      for (const r of evaluateNftHook(ruleset, 'ip', hook, o.packet, context(hook))) {
        const merged: NftOutcome = { ...r, natApplied: [...o.natApplied, ...r.natApplied], trace: [...o.trace, ...r.trace], probability: o.probability * r.probability };
        (r.verdict === 'ACCEPT' ? next : done).push(merged);
      }
    }
    live = next;
  }
  return [...done, ...live];
}

/** A connection attempt that did not connect, in the evaluator's words. */
function observe(result: Exclude<TcpProbeResult, { outcome: 'connected' }>): Observed {
  switch (result.outcome) {
    case 'refused':
      return { verdict: 'REJECT' };
    case 'timeout':
      return { verdict: 'DROP' };
    case 'error':
      // EHOSTUNREACH, ENETUNREACH, EACCES: an ICMP error came back.
      return { verdict: 'REJECT' };
  }
}

describeAsRoot('nftables evaluator against the kernel', () => {
  let client = '';
  let router = '';
  let backend = '';
  let listeners: Listeners | undefined;

  beforeAll(async () => {
    client = await createNamespace('ndnftc');
    router = await createNamespace('ndnftr');
    backend = await createNamespace('ndnftb');
    await vethPair(client, 'c0', router, 'r0');
    await vethPair(router, 'r1', backend, 'b0');
    await addAddress(client, 'c0', `${CLIENT}/24`);
    await addAddress(router, 'r0', `${R0}/24`);
    await addAddress(router, 'r1', `${R1}/24`);
    await addAddress(backend, 'b0', `${BACKEND}/24`);
    await addAddress(backend, 'b0', `${EP1}/32`);
    await addAddress(backend, 'b0', `${EP2}/32`);
    await exec('ip', ['-n', client, 'route', 'add', 'default', 'via', R0]);
    await exec('ip', ['-n', backend, 'route', 'add', 'default', 'via', R1]);
    await exec('ip', ['-n', router, 'route', 'add', '10.244.0.0/24', 'via', BACKEND]);
    await setSysctl(router, 'net.ipv4.ip_forward', 1);
    // Every rejected attempt must get its ICMP error: no rate limit on the router.
    await setSysctl(router, 'net.ipv4.icmp_ratelimit', 0);
    await setSysctl(router, 'net.ipv4.icmp_ratemask', 0);
    listeners = await startListeners(backend, [8080, 8081, 9000, 9001, 9002].map((port) => ({ protocol: 'tcp' as const, address: '0.0.0.0', port })));
  }, 60_000);

  afterAll(async () => {
    await listeners?.stop();
    for (const ns of [client, router, backend]) if (ns !== '') await deleteNamespace(ns);
  });

  it.each(CASES.map((c, i) => [`#${i} ${c.name}`, c] as const))('%s', async (_name, c) => {
    const backendListeners = listeners as Listeners;
    await execIn(router, 'nft', ['flush', 'ruleset']);
    await execIn(router, 'nft', ['-f', '-'], { input: c.rules });
    const dump = await execIn(router, 'nft', ['-j', 'list', 'ruleset']);
    const ruleset = parseNftRuleset(JSON.parse(dump.stdout), `${router}:nft -j list ruleset`);

    // Enough attempts to see both endpoints of a two-endpoint service; one suffices otherwise.
    const attempts = c.rules.includes('numgen') && c.dst === '10.96.0.10' ? 16 : 3;
    const observed: Observed[] = [];
    for (let i = 0; i < attempts; i++) {
      backendListeners.clear();
      const result = await probeTcp(client, { dst: c.dst, dport: c.dport, timeoutMs: 1500 });
      if (result.outcome === 'connected') {
        // Records were cleared before the attempt: the one accept is this connection's.
        const record = await backendListeners.waitFor((r) => r.event === 'accept');
        observed.push({ verdict: 'ACCEPT', destination: `${record.local.address}:${record.local.port}`, source: record.peer.address });
      } else observed.push(observe(result));
    }

    const packet = buildPacket({ protocol: 'tcp', src: ip(CLIENT), dst: ip(c.dst), sport: 41000, dport: c.dport });
    const predicted = predict(ruleset, packet);
    const context = `rules:\n${c.rules}\npredicted: ${JSON.stringify(predicted.map((o) => [o.verdict, o.reason, o.probability]))}\nobserved: ${JSON.stringify(observed)}`;

    // Verdicts: the kernel's (all attempts agree) is the evaluator's, which is never inconclusive here.
    const predictedVerdicts = [...new Set(predicted.map((o) => o.verdict))];
    const observedVerdicts = [...new Set(observed.map((o) => o.verdict))];
    expect({ verdicts: predictedVerdicts, context }).toEqual({ verdicts: observedVerdicts, context });
    expect(predicted.reduce((sum, o) => sum + o.probability, 0)).toBeCloseTo(1, 9);

    // DNAT targets: the set of destinations the backend saw is the set of predicted ones
    // (16 attempts over two equally likely endpoints miss one with probability 2^-15).
    const destinations = (o: NftOutcome): string => `${formatIp(o.packet.dst)}:${o.packet.dport}`;
    const predictedTargets = [...new Set(predicted.filter((o) => o.verdict === 'ACCEPT').map(destinations))].sort();
    const observedTargets = [...new Set(observed.flatMap((o) => (o.destination ? [o.destination] : [])))].sort();
    expect({ targets: observedTargets, context }).toEqual({ targets: predictedTargets, context });

    // The source the backend saw: masqueraded to the router's address or not.
    const predictedSources = [...new Set(predicted.filter((o) => o.verdict === 'ACCEPT').map((o) => formatIp(o.packet.src)))].sort();
    const observedSources = [...new Set(observed.flatMap((o) => (o.source ? [o.source] : [])))].sort();
    expect({ sources: observedSources, context }).toEqual({ sources: predictedSources, context });

    // The host trace, from the router's own dumps, agrees with the kernel too.
    const dumpOf = async (program: string, args: readonly string[]): Promise<{ text: string; source: string }> => ({
      text: (await execIn(router, program, args)).stdout,
      source: `${router}:${program} ${args.join(' ')}`,
    });
    const host = buildHostFromDumps({
      iptablesSave: { text: '', source: `${router}:iptables-save` },
      routes: await dumpOf('ip', ['-j', '-d', 'route', 'show', 'table', 'all']),
      links: await dumpOf('ip', ['-j', '-d', 'link']),
      addresses: await dumpOf('ip', ['-j', 'addr']),
      sysctls: await dumpOf('sysctl', ['net.ipv4.ip_forward', 'net.ipv4.conf']),
      nftables: { text: dump.stdout, source: `${router}:nft -j list ruleset` },
      family: 4,
    });
    const traced = traceHost(host.input, { packet, iif: 'r0' });
    const tracedContext = `${context}\ntraced: ${JSON.stringify(traced.outcomes.map((o) => [o.verdict, o.reason, o.probability]))}`;
    expect({ verdicts: [...new Set(traced.outcomes.map((o) => o.verdict))], tracedContext }).toEqual({ verdicts: observedVerdicts, tracedContext });
    expect(traced.outcomes.reduce((sum, o) => sum + o.probability, 0)).toBeCloseTo(1, 9);
    const accepted = traced.outcomes.filter((o) => o.verdict === 'ACCEPT');
    expect({ delivery: [...new Set(accepted.map((o) => JSON.stringify(o.delivery)))], tracedContext }).toEqual({
      delivery: accepted.length === 0 ? [] : [JSON.stringify({ kind: 'transmit', outIface: 'r1' })],
      tracedContext,
    });
    const tracedTargets = [...new Set(accepted.map((o) => `${formatIp(o.packet.dst)}:${o.packet.dport}`))].sort();
    expect({ targets: tracedTargets, tracedContext }).toEqual({ targets: observedTargets, tracedContext });
    const tracedSources = [...new Set(accepted.map((o) => formatIp(o.packet.src)))].sort();
    expect({ sources: tracedSources, tracedContext }).toEqual({ sources: observedSources, tracedContext });
  }, 60_000);
});
