// The ipset configuration of one network namespace, as read from `ipset save`. Names follow
// ipset(8): set types (`hash:net,port`), dimensions, `nomatch`, `timeout`, `netmask`, `range`.

import type { IpAddress, IpFamily, IpPrefix } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';

/** Set types whose membership we evaluate. Others are kept as `unsupported` (see IpsetUnsupportedSet). */
export type IpsetHashType = 'hash:ip' | 'hash:net' | 'hash:ip,port' | 'hash:net,port' | 'hash:ip,port,ip' | 'hash:ip,port,net';

/** One dimension of a hash element, in the order the type name lists them. */
export type IpsetElementPart =
  | { readonly kind: 'ip'; readonly address: IpAddress }
  | { readonly kind: 'net'; readonly prefix: IpPrefix }
  /** `port` is the L4 port, or `type << 8 | code` for ICMP/ICMPv6, or 0 for portless protocols. */
  | { readonly kind: 'port'; readonly protocol: number; readonly port: number };

export type IpsetElementKind = IpsetElementPart['kind'];

/** Per-element extensions written by `ipset save`. */
export interface IpsetEntryExtras {
  /** Seconds left at save time; 0 means the element never expires (in a set with a timeout). */
  readonly timeout?: number;
  readonly comment?: string;
  readonly packets?: bigint;
  readonly bytes?: bigint;
  /** skbinfo extension values, as written (`0x10/0xff`, `1:10`, `3`). */
  readonly skbmark?: string;
  readonly skbprio?: string;
  readonly skbqueue?: number;
  /** 1-based line of the `add` in the dump (several entries share a line when it held a range). */
  readonly line: number;
}

export interface IpsetHashEntry extends IpsetEntryExtras {
  readonly parts: readonly IpsetElementPart[];
  /** A `nomatch` element: an address it covers is reported as not in the set (hash:net types). */
  readonly nomatch: boolean;
}

/** Options of the `create` line common to every type. */
export interface IpsetCreateOptions {
  /** Default timeout of the set in seconds; present when the set supports per-element timeouts. */
  readonly timeout?: number;
  readonly counters: boolean;
  readonly comment: boolean;
  readonly skbinfo: boolean;
  readonly forceadd: boolean;
  readonly hashsize?: number;
  readonly maxelem?: number;
}

interface IpsetSetBase {
  readonly name: string;
  /** Where the `create` line is: `SOURCE:LINE`. */
  readonly source: string;
  readonly options: IpsetCreateOptions;
}

export interface IpsetHashSet extends IpsetSetBase {
  readonly type: IpsetHashType;
  readonly family: IpFamily;
  /**
   * hash:ip only: the `netmask`/`bitmask` as a mask over the address (all ones without one). The
   * kernel stores and looks up `address & mask`, so entries here are already masked.
   */
  readonly mask: bigint;
  readonly entries: readonly IpsetHashEntry[];
}

export interface IpsetBitmapIpEntry extends IpsetEntryExtras {
  readonly address: IpAddress;
}

export interface IpsetBitmapIpSet extends IpsetSetBase {
  readonly type: 'bitmap:ip';
  readonly family: 4;
  /** `range FIRST-LAST`, inclusive. */
  readonly first: bigint;
  readonly last: bigint;
  /** `netmask`: elements are networks of this length (32 without one). */
  readonly netmask: number;
  readonly entries: readonly IpsetBitmapIpEntry[];
}

export interface IpsetBitmapPortEntry extends IpsetEntryExtras {
  readonly port: number;
}

export interface IpsetBitmapPortSet extends IpsetSetBase {
  readonly type: 'bitmap:port';
  /** bitmap:port has no family: it matches IPv4 and IPv6 packets alike. */
  readonly family: undefined;
  readonly first: number;
  readonly last: number;
  readonly entries: readonly IpsetBitmapPortEntry[];
}

export interface IpsetListEntry extends IpsetEntryExtras {
  /** Name of the member set. */
  readonly name: string;
}

export interface IpsetListSet extends IpsetSetBase {
  readonly type: 'list:set';
  readonly family: undefined;
  readonly size?: number;
  /** Member sets in the order the kernel tries them. */
  readonly entries: readonly IpsetListEntry[];
}

/**
 * A set we can read but not evaluate: an unknown type (hash:mac, hash:net,iface...) or an option
 * we do not understand. Membership of it is unknown, never guessed.
 */
export interface IpsetUnsupportedSet extends IpsetSetBase {
  readonly type: 'unsupported';
  readonly typeName: string;
  readonly family: IpFamily | undefined;
  readonly reason: string;
  readonly entryCount: number;
}

export type IpsetSet = IpsetHashSet | IpsetBitmapIpSet | IpsetBitmapPortSet | IpsetListSet | IpsetUnsupportedSet;

/** Which address or port of the packet each dimension uses, as in `-m set --match-set NAME src,dst`. */
export type IpsetFlag = 'src' | 'dst';

/**
 * The membership question the iptables traversal asks. `undefined` when the set does not exist
 * (or cannot be evaluated: unsupported type, a list:set naming a missing set).
 */
export interface IpsetLookup {
  has(name: string, packet: Packet, flags: readonly ('src' | 'dst')[]): boolean | undefined;
}
