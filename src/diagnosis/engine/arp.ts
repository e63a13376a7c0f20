// Whether a next hop's MAC can be resolved across a point-to-point link (a veth): the kernel's
// arp_process on the receiving side answers a request for an address of its own, or, by proxy ARP
// (arp_fwd_proxy), for an address it forwards out of another device. A static (PERMANENT or NOARP)
// neighbour entry on the sender needs no request at all. arp_ignore is not read: its default (0,
// answer for any local address) is assumed.

import { formatIp, type IpAddress } from '../model/ip.js';
import { effectiveFlag, effectiveForwarding, lookupRoute } from '../netstack/routing/index.js';
import { ownsAddress } from '../plugins/netns-state.js';
import type { NetnsRef } from '../plugins/plugin.js';

const STATIC_STATES = new Set(['PERMANENT', 'NOARP']);

export type ArpResolution =
  | { readonly resolved: true }
  | { readonly resolved: false; readonly code: 'NeighborMissing' | 'ForwardingDisabled'; readonly why: string };

/**
 * Resolution of `nextHop` sent by `sender` out of `senderDev` to `receiver`, arriving on
 * `receiverDev`; `senderIp` is the request's sender address (the packet's source).
 */
export function resolveOverLink(sender: NetnsRef, senderDev: string, senderIp: IpAddress, nextHop: IpAddress, receiver: NetnsRef, receiverDev: string): ArpResolution {
  const cached = sender.state.neighbors.find((n) => n.dev === senderDev && n.dst.family === nextHop.family && n.dst.value === nextHop.value);
  if (cached?.lladdr !== undefined && cached.state.some((s) => STATIC_STATES.has(s))) return { resolved: true };
  if (nextHop.family !== 4 || ownsAddress(receiver.state, nextHop)) return { resolved: true };
  const target = formatIp(nextHop);
  const request = `${sender.id}'s ARP for ${target} on ${receiverDev}`;
  const sysctls = receiver.state.routing.sysctls;
  const proxy = effectiveFlag(sysctls, receiverDev, 'proxyArp');
  if (!proxy.value) {
    return {
      resolved: false,
      code: 'NeighborMissing',
      why: `net.ipv4.conf.${receiverDev}.proxy_arp=0 (and all.proxy_arp=0) on ${receiver.id}${proxy.known ? '' : ' (not in the sysctl dump: the default 0 is assumed)'}: ${target} is no address of ${receiver.id}, so ${request} is not answered`,
    };
  }
  if (!effectiveForwarding(sysctls, receiverDev).value) {
    return { resolved: false, code: 'ForwardingDisabled', why: `net.ipv4.conf.${receiverDev}.forwarding=0 on ${receiver.id}: proxy ARP answers only on a forwarding device, so ${request} is not answered by proxy` };
  }
  const route = lookupRoute(receiver.state.routing, { dst: nextHop, src: senderIp, iif: receiverDev });
  if (route.kind !== 'unicast' || route.nexthops.every((nh) => nh.dev === receiverDev)) {
    return {
      resolved: false,
      code: 'NeighborMissing',
      why: `${receiver.id} does not route ${target} out of a device other than ${receiverDev} (${route.explanation}): proxy ARP answers only for addresses routed out of another device, so ${request} is not answered`,
    };
  }
  return { resolved: true };
}
