// The generic plugin: judges by the kernel's state only, plus what any veth/bridge pod network
// needs (a pod's interface up, a route to each pod on its node, forwarding on nodes that forward,
// matching MTUs on both ends of a link, resolved neighbours).

import type { Suspicion } from '../model/diagnosis.js';
import { formatIp, parseIp, parsePrefix, prefixContains, prefixOf, formatPrefix } from '../model/ip.js';
import { podIps } from '../model/kube-objects.js';
import type { Link } from '../netstack/routing/index.js';
import type { Expectation, FailureContext, HopContext, NetnsRef, Plugin } from './plugin.js';

const UNRESOLVED = new Set(['FAILED', 'INCOMPLETE']);

function expectations(...[cluster, at, subjects]: Parameters<NonNullable<Plugin['expectations']>>): Expectation[] {
  const out: Expectation[] = [];
  if (at.type === 'pod') {
    out.push({ kind: 'device', name: 'eth0', why: `the interface of pod ${at.id}` });
    return out;
  }
  // A node routes to the pods of the query that live on it.
  for (const end of [subjects.source, subjects.destination]) {
    if (end?.type !== 'pod' || end.nodeName !== at.nodeName) continue;
    const pod = cluster.objects.pods.find((p) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name}` === end.id);
    for (const text of pod === undefined ? [] : podIps(pod)) {
      const ip = parseIp(text);
      if (ip?.family === 4) out.push({ kind: 'route', dst: ip, why: `pod ${end.id} runs on ${at.nodeName}` });
    }
  }
  return out;
}

/** The device at this end of a veth pair: a bridge stands for its port whose peer is `other`. */
function pairEnd(ref: NetnsRef, name: string, other: Link | undefined): Link | undefined {
  const link = ref.state.routing.links.get(name);
  if (link?.kind !== 'bridge' || other === undefined) return link;
  return ref.state.routing.linkList.find((l) => l.master === name && l.ifindex === other.linkIndex) ?? link;
}

function checkHop(hop: HopContext): Suspicion[] {
  const out: Suspicion[] = [];
  if (hop.type === 'veth' || hop.type === 'bridge') {
    const fromRaw = hop.from.state.routing.links.get(hop.fromIface);
    const toRaw = hop.to.state.routing.links.get(hop.toIface);
    const from = pairEnd(hop.from, hop.fromIface, toRaw);
    const to = pairEnd(hop.to, hop.toIface, fromRaw);
    if (from !== undefined && to !== undefined && from.mtu !== to.mtu) {
      const [big, bigRef, small, smallRef] = from.mtu > to.mtu ? [from, hop.from, to, hop.to] : [to, hop.to, from, hop.from];
      out.push({
        level: 'warning',
        node: bigRef.id,
        code: 'MTUMismatch',
        message: `MTU of ${big.name} on ${bigRef.id} (${big.mtu}) is larger than that of ${small.name} on ${smallRef.id} (${small.mtu}), across the link: packets larger than ${small.mtu} bytes sent from ${bigRef.id} are dropped`,
      });
    }
  }
  for (const n of hop.from.state.neighbors) {
    if (n.dev === hop.fromIface && n.dst.family === hop.nextHop.family && n.dst.value === hop.nextHop.value && n.state.some((s) => UNRESOLVED.has(s))) {
      out.push({
        level: 'warning',
        node: hop.from.id,
        code: 'NeighborMissing',
        message: `neighbour ${formatIp(n.dst)} dev ${n.dev} is ${n.state.join(',')}: the last ARP resolution of the next hop failed`,
      });
    }
  }
  return out;
}

function explainFailure(failure: FailureContext): Suspicion[] {
  const out: Suspicion[] = [];
  if (failure.cause.kind !== 'route') return out;
  const decision = failure.cause.decision;
  if (decision.kind !== 'no-route') return out;
  const dst = failure.packet.dst;
  // IPv4 routes through a device that goes down are removed; its addresses stay.
  for (const [dev, addresses] of failure.at.state.routing.addressesByDev) {
    const link = failure.at.state.routing.links.get(dev);
    if (link === undefined || link.up) continue;
    const subnet = addresses.find((a) => a.family === dst.family && prefixContains(prefixOf(a.local, a.prefixLength), dst));
    if (subnet !== undefined) {
      out.push({
        level: 'fatal',
        node: failure.at.id,
        code: 'LinkDown',
        message: `${dev} is down: its subnet ${formatPrefix(prefixOf(subnet.local, subnet.prefixLength))} holds ${formatIp(dst)}, and the kernel removed the routes through it`,
      });
    }
  }
  if (failure.at.type === 'node') {
    for (const node of failure.cluster.objects.nodes) {
      const cidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR !== undefined ? [node.spec.podCIDR] : []);
      for (const cidr of cidrs) {
        const prefix = parsePrefix(cidr);
        if (prefix === undefined || !prefixContains(prefix, dst)) continue;
        out.push({
          level: 'fatal',
          node: failure.at.id,
          code: 'RouteMissing',
          message: `no route on ${failure.at.id} to ${cidr}, the podCIDR of node ${node.metadata.name} (holding ${formatIp(dst)})`,
        });
      }
    }
  }
  return out;
}

export const genericPlugin: Plugin = { name: 'generic', expectations, checkHop, explainFailure };
