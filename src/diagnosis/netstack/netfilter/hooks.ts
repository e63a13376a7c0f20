// The order in which netfilter consults the tables, per path through the stack, as the kernel
// registers them (priorities from include/uapi/linux/netfilter_ipv4.h: raw -300, conntrack -200,
// mangle -150, nat DNAT -100, filter 0, security 50, nat SNAT 100), with the routing decisions
// between hooks (https://wiki.nftables.org/wiki-nftables/index.php/Netfilter_hooks). Native
// nftables base chains sit among the iptables tables by their priority (nat-type chains in the nat
// core's slot); on equal priority the iptables table is taken to run first.

import type { NftHook } from '../nftables/model.js';
import type { NftHookChain } from '../nftables/evaluate.js';
import type { HookName, TableName } from './model.js';

export type Stage =
  /** Walk the table's built-in chain for the hook. */
  | { readonly kind: 'table'; readonly hook: HookName; readonly table: TableName }
  /** Native nftables base chains of the hook, in priority order, between two iptables tables. */
  | { readonly kind: 'nft'; readonly hook: HookName; readonly chains: readonly NftHookChain[] }
  /**
   * After every nat entry of the hook (the iptables nat table and nft nat chains) has run without
   * setting up NAT, the connection gets a null binding (nf_nat_alloc_null_binding): nat rules of the
   * same manipulation later on its way (the second pass through lo) no longer run.
   */
  | { readonly kind: 'nat-done'; readonly hook: HookName }
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

/** The stage lists of the four paths through a host. */
export interface PathStages {
  /** An incoming packet up to the input routing decision. */
  readonly incoming: readonly Stage[];
  /** An incoming packet for a local address. */
  readonly localIn: readonly Stage[];
  /** An incoming packet routed out again. */
  readonly forward: readonly Stage[];
  /** A locally generated packet. */
  readonly outgoing: readonly Stage[];
}

/** The base chains of one hook, in the order evaluateNftChains runs them. */
export type NftChainsOfHook = (hook: NftHook) => readonly NftHookChain[];

const NFT_HOOK: Readonly<Record<HookName, NftHook>> = {
  PREROUTING: 'prerouting',
  INPUT: 'input',
  FORWARD: 'forward',
  OUTPUT: 'output',
  POSTROUTING: 'postrouting',
};

export function nftHookOf(hook: HookName): NftHook {
  return NFT_HOOK[hook];
}

interface Slot {
  readonly priority: number;
  readonly stages: readonly Stage[];
}

const table = (hook: HookName, name: TableName, priority: number, reroute = false): Slot => ({
  priority,
  stages: reroute ? [{ kind: 'table', hook, table: name }, { kind: 'reroute-if-changed' }] : [{ kind: 'table', hook, table: name }],
});

/**
 * The stages of one hook: the iptables slots with the hook's nftables base chains merged in by
 * priority; consecutive nft chains form one stage. In OUTPUT a route- or nat-type chain may change
 * what routing looked at, so the stage is followed by a re-route (as mangle and nat are).
 */
function hookStages(hook: HookName, slots: readonly Slot[], nft: NftChainsOfHook | undefined): Stage[] {
  const chains = nft?.(NFT_HOOK[hook]) ?? [];
  const out: Stage[] = [];
  let i = 0;
  const flush = (upTo: number | undefined): void => {
    const group: NftHookChain[] = [];
    while (i < chains.length && (upTo === undefined || (chains[i] as NftHookChain).effectivePriority < upTo)) group.push(chains[i++] as NftHookChain);
    if (group.length === 0) return;
    out.push({ kind: 'nft', hook, chains: group });
    if (hook === 'OUTPUT' && group.some((c) => c.chain.base?.type === 'route' || c.chain.base?.type === 'nat')) out.push({ kind: 'reroute-if-changed' });
  };
  for (const slot of slots) {
    flush(slot.priority);
    out.push(...slot.stages);
  }
  flush(undefined);
  return out;
}

const CONNTRACK: Slot = { priority: -200, stages: [{ kind: 'conntrack' }] };

/** The four paths, with `nft`'s base chains (none when undefined) among the iptables tables. */
export function buildPathStages(nft?: NftChainsOfHook): PathStages {
  const natDone = (hook: HookName): Stage => ({ kind: 'nat-done', hook });
  const postrouting = [...hookStages('POSTROUTING', [table('POSTROUTING', 'mangle', -150), table('POSTROUTING', 'nat', 100)], nft), natDone('POSTROUTING')];
  return {
    incoming: [
      ...hookStages(
        'PREROUTING',
        [table('PREROUTING', 'raw', -300), CONNTRACK, table('PREROUTING', 'mangle', -150), table('PREROUTING', 'nat', -100)],
        nft,
      ),
      natDone('PREROUTING'),
      { kind: 'route-input' },
    ],
    localIn: [
      ...hookStages('INPUT', [table('INPUT', 'mangle', -150), table('INPUT', 'filter', 0), table('INPUT', 'security', 50), table('INPUT', 'nat', 100)], nft),
      natDone('INPUT'),
      { kind: 'deliver' },
    ],
    forward: [
      ...hookStages('FORWARD', [table('FORWARD', 'mangle', -150), table('FORWARD', 'filter', 0), table('FORWARD', 'security', 50)], nft),
      ...postrouting,
      { kind: 'transmit' },
    ],
    outgoing: [
      { kind: 'route-output' },
      ...hookStages(
        'OUTPUT',
        [
          table('OUTPUT', 'raw', -300),
          CONNTRACK,
          table('OUTPUT', 'mangle', -150, true),
          table('OUTPUT', 'nat', -100, true),
          table('OUTPUT', 'filter', 0),
          table('OUTPUT', 'security', 50),
        ],
        nft,
      ),
      natDone('OUTPUT'),
      ...postrouting,
      { kind: 'transmit' },
    ],
  };
}

const IPTABLES_ONLY = buildPathStages();

/** An incoming packet up to the input routing decision. */
export const INCOMING_STAGES: readonly Stage[] = IPTABLES_ONLY.incoming;

/** An incoming packet for a local address. */
export const LOCAL_IN_STAGES: readonly Stage[] = IPTABLES_ONLY.localIn;

/** An incoming packet routed out again. */
export const FORWARD_STAGES: readonly Stage[] = IPTABLES_ONLY.forward;

/** A locally generated packet. */
export const OUTGOING_STAGES: readonly Stage[] = IPTABLES_ONLY.outgoing;

/** nat PREROUTING and OUTPUT set up destination NAT; INPUT and POSTROUTING source NAT. */
export function natManipulation(hook: HookName): 'destination' | 'source' {
  return hook === 'PREROUTING' || hook === 'OUTPUT' ? 'destination' : 'source';
}
