// The order in which netfilter consults the tables, per path through the stack, as the kernel
// registers them (priorities from include/uapi/linux/netfilter_ipv4.h: raw -300, conntrack -200,
// mangle -150, nat DNAT -100, filter 0, security 50, nat SNAT 100), with the routing decisions
// between hooks (https://wiki.nftables.org/wiki-nftables/index.php/Netfilter_hooks).

import type { HookName, TableName } from './model.js';

export type Stage =
  /** Walk the table's built-in chain for the hook. */
  | { readonly kind: 'table'; readonly hook: HookName; readonly table: TableName }
  /** Conntrack (priority -200, after raw): a packet NOTRACKed in raw becomes UNTRACKED. */
  | { readonly kind: 'conntrack' }
  /** Input routing of an incoming packet (after nat PREROUTING): INPUT or FORWARD. */
  | { readonly kind: 'route-input' }
  /** Output routing of a local packet, before OUTPUT (the socket's route). */
  | { readonly kind: 'route-output' }
  /** ip_route_me_harder: re-route a local packet if OUTPUT changed its addresses, mark or TOS. */
  | { readonly kind: 'reroute-if-changed' }
  /** The end of the path: delivered to a local socket, or handed to the output device. */
  | { readonly kind: 'deliver' }
  | { readonly kind: 'transmit' };

const table = (hook: HookName, name: TableName): Stage => ({ kind: 'table', hook, table: name });

/** An incoming packet up to the input routing decision. */
export const INCOMING_STAGES: readonly Stage[] = [
  table('PREROUTING', 'raw'),
  { kind: 'conntrack' },
  table('PREROUTING', 'mangle'),
  table('PREROUTING', 'nat'),
  { kind: 'route-input' },
];

/** An incoming packet for a local address. */
export const LOCAL_IN_STAGES: readonly Stage[] = [
  table('INPUT', 'mangle'),
  table('INPUT', 'filter'),
  table('INPUT', 'security'),
  table('INPUT', 'nat'),
  { kind: 'deliver' },
];

/** An incoming packet routed out again. */
export const FORWARD_STAGES: readonly Stage[] = [
  table('FORWARD', 'mangle'),
  table('FORWARD', 'filter'),
  table('FORWARD', 'security'),
  table('POSTROUTING', 'mangle'),
  table('POSTROUTING', 'nat'),
  { kind: 'transmit' },
];

/** A locally generated packet. */
export const OUTGOING_STAGES: readonly Stage[] = [
  { kind: 'route-output' },
  table('OUTPUT', 'raw'),
  { kind: 'conntrack' },
  table('OUTPUT', 'mangle'),
  { kind: 'reroute-if-changed' },
  table('OUTPUT', 'nat'),
  { kind: 'reroute-if-changed' },
  table('OUTPUT', 'filter'),
  table('OUTPUT', 'security'),
  table('POSTROUTING', 'mangle'),
  table('POSTROUTING', 'nat'),
  { kind: 'transmit' },
];

/** nat PREROUTING and OUTPUT set up destination NAT; INPUT and POSTROUTING source NAT. */
export function natManipulation(hook: HookName): 'destination' | 'source' {
  return hook === 'PREROUTING' || hook === 'OUTPUT' ? 'destination' : 'source';
}
