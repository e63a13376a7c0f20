// What non-terminal targets do to the packet and its connection: MARK, CONNMARK, DSCP/TOS, and the
// address and port choices of DNAT/SNAT/MASQUERADE/REDIRECT (net/netfilter/nf_nat_core.c
// get_unique_tuple: keep the original port when it is in the range, else DNAT takes the first port
// of the range and SNAT a random one; several addresses are picked by a hash of the connection).

import { ipAdd, type IpAddress } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import type { ConnmarkTarget, NatRange } from './model.js';

/** `skb->mark = (skb->mark & ~mask) ^ value` (xt_MARK). */
export function applyMark(mark: number, value: number, mask: number): number {
  return ((mark & ~mask) ^ value) >>> 0;
}

/** CONNMARK --set-xmark / --save-mark / --restore-mark (xt_CONNMARK). */
export function applyConnmark(target: ConnmarkTarget, mark: number, connmark: number): { mark: number; connmark: number } {
  switch (target.mode) {
    case 'set':
      return { mark, connmark: ((connmark & ~target.mask) ^ target.value) >>> 0 };
    case 'save':
      return { mark, connmark: ((connmark & ~target.ctmask) ^ (mark & target.nfmask)) >>> 0 };
    case 'restore':
      return { mark: ((mark & ~target.nfmask) ^ (connmark & target.ctmask)) >>> 0, connmark };
  }
}

/** DSCP --set-dscp: the upper six bits of the TOS byte. */
export function applyDscp(tos: number, dscp: number): number {
  return (tos & 0x03) | ((dscp & 0x3f) << 2);
}

/** TOS --set-tos V/M: `tos = (tos & ~M) ^ V`. */
export function applyTos(tos: number, value: number, mask: number): number {
  return ((tos & ~mask) ^ value) & 0xff;
}

/** At most this many addresses of a NAT range are followed as separate branches. */
export const MAX_NAT_ADDRESSES = 16;

export interface NatChoice {
  /** undefined: the range gives only ports, the address stays. */
  readonly address: IpAddress | undefined;
  readonly port: number;
  readonly probability: number;
  readonly note?: string;
}

/**
 * The translations a NAT target can make for a packet whose rewritten port is now `port`:
 * one per address of the range(s) (each equally likely), up to MAX_NAT_ADDRESSES.
 */
export function natChoices(ranges: readonly NatRange[], port: number, manip: 'source' | 'destination', randomPort: boolean): NatChoice[] {
  const addresses: (IpAddress | undefined)[] = [];
  const portsOf: NatRange[] = [];
  let total = 0n;
  let truncated = false;
  for (const range of ranges) {
    if (range.minAddress === undefined || range.maxAddress === undefined) {
      addresses.push(undefined);
      portsOf.push(range);
      total += 1n;
      continue;
    }
    const count = range.maxAddress.value - range.minAddress.value + 1n;
    total += count;
    for (let i = 0n; i < count; i++) {
      if (addresses.length >= MAX_NAT_ADDRESSES) {
        truncated = true;
        break;
      }
      addresses.push(ipAdd(range.minAddress, i));
      portsOf.push(range);
    }
  }
  const share = 1 / addresses.length;
  return addresses.map((address, i) => {
    const { port: chosen, note: portNote } = natPort(portsOf[i], port, manip, randomPort);
    const notes: string[] = [];
    if (addresses.length > 1) notes.push(`one of ${total} addresses, picked by a hash of the connection`);
    if (truncated) notes.push(`only the first ${MAX_NAT_ADDRESSES} are followed`);
    if (portNote !== undefined) notes.push(portNote);
    return { address, port: chosen, probability: share, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
  });
}

/** The port after NAT to `range` (get_unique_tuple, without collisions with other connections). */
export function natPort(
  range: { readonly minPort?: number; readonly maxPort?: number } | undefined,
  port: number,
  manip: 'source' | 'destination',
  randomPort: boolean,
): { port: number; note?: string } {
  if (range?.minPort === undefined || range.maxPort === undefined) {
    return randomPort && manip === 'source' ? { port, note: 'source port randomised (--random-fully)' } : { port };
  }
  if (range.minPort === range.maxPort) return { port: range.minPort };
  if (!randomPort && port >= range.minPort && port <= range.maxPort) return { port };
  if (manip === 'destination' && !randomPort) return { port: range.minPort };
  return { port, note: `port picked at random from ${range.minPort}-${range.maxPort}` };
}

export function rewriteDestination(packet: Packet, address: IpAddress | undefined, port: number): Packet {
  const icmp = packet.protocol === 'icmp';
  return { ...packet, dst: address ?? packet.dst, dport: icmp ? packet.dport : port };
}

export function rewriteSource(packet: Packet, address: IpAddress | undefined, port: number): Packet {
  const icmp = packet.protocol === 'icmp';
  return { ...packet, src: address ?? packet.src, sport: icmp ? packet.sport : port };
}
