// IPVS (kube-proxy's ipvs mode) in the walk. A packet to a virtual service is delivered locally (the
// service addresses sit on a dummy device, kube-ipvs0), and at LOCAL_IN, after filter INPUT, IPVS
// picks a real server and rewrites the destination (masquerading forwarding), then sends the packet
// on through LOCAL_OUT and POSTROUTING. The walk fans out to every real server a scheduler may pick
// (weight above zero) and walks each rewritten packet on from the same namespace, as arriving on the
// same interface: it crosses filter FORWARD rather than OUTPUT there, a difference kube-proxy's
// rules (which accept both) do not show. The rewrite is recorded as a DNAT, so the reply is
// un-NATed where conntrack (IPVS's own connection table) would.

import type { Direction, Suspicion } from '../model/diagnosis.js';
import { formatIp } from '../model/ip.js';
import type { Packet } from '../model/packet.js';
import { formatServiceKey, lookupVirtualService, schedulableRealServers, type IpvsRealServer } from '../netstack/ipvs/index.js';
import type { NetnsRef } from '../plugins/plugin.js';
import { addAction, forkTrail, type Trail } from './trail.js';

/** What the walk needs to go on from a real server. */
export type IpvsOutcome =
  | { readonly kind: 'forward'; readonly server: IpvsRealServer; readonly packet: Packet; readonly trail: Trail }
  | { readonly kind: 'unsupported'; readonly server: IpvsRealServer; readonly trail: Trail; readonly reason: string }
  | { readonly kind: 'no-server'; readonly trail: Trail; readonly message: string };

/** IPVS's handling of a packet delivered locally in `at`; undefined when no virtual service takes it. */
export function ipvsOutcomes(at: NetnsRef, packet: Packet, trail: Trail, dir: Direction): IpvsOutcome[] | undefined {
  const ipvs = at.state.ipvs;
  if (ipvs === undefined || dir !== 'request') return undefined;
  const service = lookupVirtualService(ipvs, packet);
  if (service === undefined) return undefined;
  const name = formatServiceKey(service.key);
  const servers = schedulableRealServers(service);
  if (servers.length === 0) {
    const quiesced = service.realServers.length > 0 ? ` (${service.realServers.length} with weight 0)` : '';
    return [
      {
        kind: 'no-server',
        trail,
        message: `IPVS virtual service ${name} on ${at.id} has no real server a scheduler may pick${quiesced}: the kernel answers a new connection with ICMP port unreachable`,
      },
    ];
  }
  return servers.map((server): IpvsOutcome => {
    const t = forkTrail(trail);
    const port = server.port === 0 ? packet.dport : server.port;
    const target = `${formatIp(server.address)}:${port}`;
    if (server.forwarding !== 'masquerade') {
      return { kind: 'unsupported', server, trail: t, reason: `IPVS forwards ${name} to ${target} by ${server.forwarding === 'gateway' ? 'direct routing (-g)' : 'tunnelling (-i)'}, which the walk does not simulate` };
    }
    const before = { address: packet.dst, port: packet.dport };
    const after = { address: server.address, port };
    t.nat.push({ netnode: at.id, nat: { kind: 'dnat', hook: 'INPUT', chain: 'IPVS', line: 0, ruleText: `IPVS ${name} -> ${target} (${service.scheduler})`, before, after } });
    addAction(t, at.id, at.type, { kind: 'nat', direction: dir, nat: 'IPVS', before: `${formatIp(packet.dst)}:${packet.dport}`, after: target, rule: `${server.source}` });
    return { kind: 'forward', server, packet: { ...packet, dst: server.address, dport: port }, trail: t };
  });
}

/**
 * The real servers of the virtual service for `vip:port` in `at` against the service's ready
 * endpoints (EndpointSlices): one missing from IPVS gets no traffic, a real server that is no ready
 * endpoint gets traffic it should not (kube-proxy has not caught up, or is not running).
 */
export function ipvsEndpointSuspicions(at: NetnsRef, serviceKey: string, probe: Packet, endpoints: readonly string[]): Suspicion[] {
  const ipvs = at.state.ipvs;
  const service = ipvs === undefined ? undefined : lookupVirtualService(ipvs, probe);
  if (service === undefined) return [];
  const name = formatServiceKey(service.key);
  const servers = new Set(service.realServers.map((r) => formatIp(r.address)));
  const ready = new Set(endpoints);
  const out: Suspicion[] = [];
  const missing = [...ready].filter((e) => !servers.has(e));
  const stale = [...servers].filter((s) => !ready.has(s));
  if (missing.length > 0) {
    out.push({ level: 'critical', node: at.id, code: 'ServiceRulesMissing', message: `IPVS virtual service ${name} on ${at.id} has no real server for the ready endpoints ${missing.join(', ')} of service ${serviceKey}` });
  }
  if (stale.length > 0) {
    out.push({ level: 'critical', node: at.id, code: 'ServiceRulesStale', message: `IPVS virtual service ${name} on ${at.id} sends to ${stale.join(', ')}, which ${stale.length === 1 ? 'is no ready endpoint' : 'are no ready endpoints'} of service ${serviceKey} (EndpointSlices)` });
  }
  return out;
}
