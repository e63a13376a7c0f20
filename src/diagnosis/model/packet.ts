// The packet as the netstack simulation sees it: the 5-tuple plus the per-packet state the kernel
// carries through netfilter and policy routing (skb mark, conntrack state and mark).

import type { IpAddress } from './ip.js';

export type Protocol = 'tcp' | 'udp' | 'icmp';

/** Conntrack states as the `state`/`conntrack --ctstate` matches name them. */
export type ConntrackState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED' | 'SNAT' | 'DNAT';

/** TCP flag names as iptables writes them in `--tcp-flags`. */
export type TcpFlag = 'SYN' | 'ACK' | 'FIN' | 'RST' | 'URG' | 'PSH';

export interface Packet {
  readonly protocol: Protocol;
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** Source and destination ports; 0 for ICMP. */
  readonly sport: number;
  readonly dport: number;
  /** ICMP type and code (echo request = 8/0); undefined for TCP and UDP. */
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** TCP flags set on this packet; the first packet of a connection is a bare SYN. */
  readonly tcpFlags: ReadonlySet<TcpFlag>;
  /** The skb mark (fwmark), 32 bits. */
  readonly mark: number;
  /** The conntrack entry's mark, 32 bits. */
  readonly connmark: number;
  /** The conntrack state of the packet's connection: NEW for the first packet unless told otherwise. */
  readonly ctState: ConntrackState;
  /** TOS/DSCP byte, used by policy rules with `tos`. */
  readonly tos: number;
}

export const PROTOCOL_NUMBERS: Record<Protocol, number> = { icmp: 1, tcp: 6, udp: 17 };

/** The first packet of a new connection: a SYN for TCP, an echo request for ICMP. */
export function buildPacket(fields: {
  protocol: Protocol;
  src: IpAddress;
  dst: IpAddress;
  sport?: number;
  dport?: number;
  mark?: number;
  ctState?: ConntrackState;
  icmpType?: number;
  icmpCode?: number;
}): Packet {
  const icmp = fields.protocol === 'icmp';
  return {
    protocol: fields.protocol,
    src: fields.src,
    dst: fields.dst,
    sport: icmp ? 0 : (fields.sport ?? 0),
    dport: icmp ? 0 : (fields.dport ?? 0),
    ...(icmp ? { icmpType: fields.icmpType ?? 8, icmpCode: fields.icmpCode ?? 0 } : {}),
    tcpFlags: new Set<TcpFlag>(fields.protocol === 'tcp' ? ['SYN'] : []),
    mark: (fields.mark ?? 0) >>> 0,
    connmark: 0,
    ctState: fields.ctState ?? 'NEW',
    tos: 0,
  };
}
