// What a walk through netfilter needs from its caller (the host's addresses, routing, ipsets,
// sockets) and what it returns (outcomes with verdict, final packet, NAT, marks, trace, warnings).
// Routing and ipset membership stay with their own modules: the walk asks through callbacks.

import type { IpAddress } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import type { Warning } from '../../model/warning.js';
import type { NftTraceStep } from '../nftables/evaluate.js';
import type { NftRuleset } from '../nftables/model.js';
import type { CtStatus, HookName, SetFlag, TableName } from './model.js';

/**
 * Set membership as `-m set --match-set NAME FLAGS` asks it (the ipset module implements it).
 * `flags` give, per dimension of the set, whether the packet's source or destination is looked up
 * (`src,dst` for hash:ip,port = source address, destination port). undefined: the set is unknown
 * or cannot be evaluated, and the rule's outcome is Inconclusive.
 */
export interface IpsetLookup {
  has(name: string, packet: Packet, flags: readonly SetFlag[]): boolean | undefined;
  /**
   * Optional, for `--return-nomatch`: distinguishes an element flagged `nomatch` from no element.
   * Without it, a rule with `--return-nomatch` is Inconclusive.
   */
  lookup?(name: string, packet: Packet, flags: readonly SetFlag[]): 'match' | 'nomatch' | 'none' | undefined;
}

/** The routing decision for a packet, as the routing module takes it. */
export type NetfilterRouteDecision =
  /**
   * The destination is local: an incoming packet goes to INPUT; a local one out through `lo`.
   * `source`: the address MASQUERADE would pick on `lo` (none of lo's host-scope addresses
   * qualify, so the kernel takes the first global address of the namespace).
   */
  | { readonly kind: 'local'; readonly source?: IpAddress }
  /**
   * Routed out of `outIface`: an incoming packet is forwarded (FORWARD), a local one sent.
   * `source` is the route's preferred source (`src`), used by MASQUERADE.
   */
  | { readonly kind: 'unicast'; readonly outIface: string; readonly source?: IpAddress; readonly gateway?: IpAddress }
  /** No route, or a blackhole/unreachable/prohibit route. `reject`: the kernel answers with ICMP. */
  | { readonly kind: 'unreachable'; readonly reason: string; readonly reject: boolean }
  /** The routing module cannot tell (missing dump, unsupported rule): the outcome is Inconclusive. */
  | { readonly kind: 'unknown'; readonly reason: string };

export interface NetfilterRouteQuery {
  /** The packet as it is at this point (after DNAT, with its current mark and TOS). */
  readonly packet: Packet;
  /** The interface it arrived on; undefined for a locally generated packet. */
  readonly inIface: string | undefined;
  /**
   * `input`: an incoming packet after PREROUTING; `output`: a local packet before OUTPUT;
   * `reroute`: a local packet whose destination, source, mark or TOS OUTPUT changed.
   */
  readonly stage: 'input' | 'output' | 'reroute';
}

export type NetfilterRouteLookup = (query: NetfilterRouteQuery) => NetfilterRouteDecision;

export interface SocketQuery {
  readonly packet: Packet;
  /** `-m socket --transparent` / TPROXY: only a socket with IP_TRANSPARENT counts. */
  readonly transparent: boolean;
  /** `--nowildcard`: a listener bound to 0.0.0.0/:: does not count. */
  readonly nowildcard: boolean;
  /** TPROXY: the address and port to look a listener up on instead of the packet's destination. */
  readonly redirectTo?: { readonly address: IpAddress | undefined; readonly port: number };
}

/** The host whose rule set is walked. */
export interface HostContext {
  /** Every address configured on the host (`ip addr`); loopback addresses are always local. */
  readonly localAddresses: readonly IpAddress[];
  /** Subnet broadcast addresses (`brd` of `ip addr`): addrtype BROADCAST and pkttype broadcast. */
  readonly broadcastAddresses?: readonly IpAddress[];
  /** Addresses per interface, primary first: REDIRECT, MASQUERADE, addrtype --limit-iface-*. */
  readonly interfaceAddresses?: ReadonlyMap<string, readonly IpAddress[]>;
  /** Routing; without it an incoming packet to a local address is delivered, others forwarded. */
  readonly route?: NetfilterRouteLookup;
  readonly ipsets?: IpsetLookup;
  /** Whether a local socket would take the packet (`-m socket`, TPROXY); undefined: unknown. */
  readonly socketLookup?: (query: SocketQuery) => boolean | undefined;
  /**
   * The host's native nftables rule set (`nft -j list ruleset`): its base chains run among the
   * iptables tables by priority. Without it only the iptables rule set is walked.
   */
  readonly nftables?: NftRuleset;
}

/** Where the packet enters netfilter. */
export type PacketDirection =
  /** Received on `inIface`: PREROUTING, then INPUT or FORWARD. */
  | { readonly kind: 'incoming'; readonly inIface: string }
  /** Sent by a local process: OUTPUT, then POSTROUTING. */
  | { readonly kind: 'outgoing' };

/** A conntrack tuple: addresses and ports in one direction. */
export interface ConntrackTuple {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  readonly sport: number;
  readonly dport: number;
}

export interface TraceOptions {
  /** Forces the output interface, whatever routing says. */
  readonly outIface?: string;
  /** A bridged packet (br_netfilter): its bridge ports, for `-m physdev`. */
  readonly bridge?: { readonly inPort?: string; readonly outPort?: string };
  /** The sending socket's owner, for `-m owner` on a locally generated packet. */
  readonly socketOwner?: { readonly uid: number; readonly gid: number; readonly supplementaryGids?: readonly number[] };
  /** Fields the Packet model does not carry; a rule matching on a missing one is Inconclusive. */
  readonly packetLength?: number;
  readonly ttl?: number;
  readonly sourceMac?: string;
  /**
   * The conntrack entry of a packet that is not NEW (its tuples, status, and whether NAT is already
   * set up). A NEW packet's entry is built by the walk itself.
   */
  readonly conntrack?: {
    readonly direction?: 'ORIGINAL' | 'REPLY';
    readonly original?: ConntrackTuple;
    readonly reply?: ConntrackTuple;
    readonly statuses?: readonly CtStatus[];
    /** Whether the connection is source / destination NATed (`--ctstate SNAT` / `DNAT`). */
    readonly natted?: { readonly source: boolean; readonly destination: boolean };
    /**
     * NAT already initialised for this connection (e.g. the second pass of a local packet looped
     * through `lo`): the nat table is then not consulted again for that manipulation.
     */
    readonly natInitialized?: { readonly source?: boolean; readonly destination?: boolean };
  };
  /** At most this many branches (statistic, DNAT ranges, undecidable matches); default 1024. */
  readonly maxBranches?: number;
}

export type Verdict = 'ACCEPT' | 'DROP' | 'REJECT' | 'INCONCLUSIVE';

export interface Endpoint {
  readonly address: IpAddress;
  readonly port: number;
}

/** One NAT manipulation applied to the connection. */
export interface NatApplied {
  readonly kind: 'dnat' | 'snat' | 'masquerade' | 'redirect';
  readonly hook: HookName;
  readonly chain: string;
  readonly line: number;
  readonly ruleText: string;
  readonly before: Endpoint;
  /** undefined when MASQUERADE could not tell the address of the output interface. */
  readonly after: Endpoint | undefined;
  /** MASQUERADE: the interface whose address is used. */
  readonly outIface?: string;
  /** How the address or port was picked from a range, or why it is unknown. */
  readonly note?: string;
}

export type TraceStep =
  /** A rule whose matches the packet met (`matched`), or a branch where it was taken not to. */
  | {
      readonly kind: 'rule';
      readonly hook: HookName;
      readonly table: TableName;
      readonly chain: string;
      readonly line: number;
      readonly ruleText: string;
      /** The target as written (`DNAT --to-destination 10.244.1.5:80`, `KUBE-SVC-...`). */
      readonly target: string;
      readonly matched: boolean;
      readonly note?: string;
    }
  /** The packet fell off (or RETURNed from) a built-in chain: its policy applies. */
  | {
      readonly kind: 'policy';
      readonly hook: HookName;
      readonly table: TableName;
      readonly chain: string;
      readonly line: number;
      readonly policy: 'ACCEPT' | 'DROP';
    }
  | { readonly kind: 'route'; readonly stage: 'input' | 'output' | 'reroute'; readonly decision: NetfilterRouteDecision; readonly note?: string }
  /** A table's chain not consulted (nat for a packet that is not NEW, a table not loaded...). */
  | { readonly kind: 'skip'; readonly hook: HookName; readonly table: TableName; readonly reason: string }
  /**
   * A step in a native nftables base chain of `hook`: a rule met (its `action`: `drop`,
   * `jump services`, `dnat to ...`), a chain's policy, or a chain not consulted.
   */
  | { readonly kind: 'nft'; readonly hook: HookName; readonly step: NftTraceStep };

/** Where an accepted packet goes. */
export type Delivery = { readonly kind: 'local' } | { readonly kind: 'transmit'; readonly outIface: string | undefined };

export interface Outcome {
  readonly verdict: Verdict;
  /**
   * For an INCONCLUSIVE outcome from a branch on something unknown: what this branch reached under
   * the assumptions its warnings state. undefined when the walk could not go on at all.
   */
  readonly candidate?: Exclude<Verdict, 'INCONCLUSIVE'>;
  /** One line: which rule, policy or routing decision ended the walk. */
  readonly reason: string;
  /** The packet at the end of the walk: NAT applied, marks and TOS as changed. */
  readonly packet: Packet;
  readonly delivery?: Delivery;
  readonly rejectWith?: string;
  readonly natApplied: readonly NatApplied[];
  readonly marks: { readonly mark: number; readonly connmark: number };
  readonly trace: readonly TraceStep[];
  readonly warnings: readonly Warning[];
  /**
   * The share of packets of this kind that take this outcome (statistic and NAT-range branches
   * multiply); for INCONCLUSIVE alternatives it is conditional on their assumption.
   */
  readonly probability: number;
}

export interface TraceResult {
  /** Distinct outcomes (same verdict, packet, delivery and NAT merged, probabilities summed). */
  readonly outcomes: readonly Outcome[];
  /** Warnings about the walk as a whole (branching capped, family mismatch). */
  readonly warnings: readonly Warning[];
  /** True when maxBranches stopped the exploration: `outcomes` may be incomplete. */
  readonly capped: boolean;
}
