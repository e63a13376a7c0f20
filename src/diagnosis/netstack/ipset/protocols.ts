// Protocol and ICMP type names as `ipset save` writes them in `PROTO:PORT` elements. ipset prints
// the protocol with getprotobynumber(3) (so /etc/protocols names: `gre`, `ipv6-icmp`), and ICMP
// types with its own table (lib/icmp.c, lib/icmpv6.c), falling back to `TYPE/CODE`. The tables
// below were taken from what ipset 7.17 prints for every type/code pair (see testdata/README.md).

/** /etc/protocols (netbase) names, including the aliases ipset accepts on input. */
const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['hopopt', 0],
  ['icmp', 1],
  ['igmp', 2],
  ['ggp', 3],
  ['ipencap', 4],
  ['st', 5],
  ['tcp', 6],
  ['egp', 8],
  ['igp', 9],
  ['pup', 12],
  ['udp', 17],
  ['hmp', 20],
  ['xns-idp', 22],
  ['rdp', 27],
  ['iso-tp4', 29],
  ['dccp', 33],
  ['xtp', 36],
  ['ddp', 37],
  ['idpr-cmtp', 38],
  ['ipv6', 41],
  ['ipv6-route', 43],
  ['ipv6-frag', 44],
  ['idrp', 45],
  ['rsvp', 46],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
  ['skip', 57],
  ['ipv6-icmp', 58],
  ['icmpv6', 58],
  ['ipv6-nonxt', 59],
  ['ipv6-opts', 60],
  ['rspf', 73],
  ['vmtp', 81],
  ['eigrp', 88],
  ['ospf', 89],
  ['ax.25', 93],
  ['ipip', 94],
  ['etherip', 97],
  ['encap', 98],
  ['pim', 103],
  ['ipcomp', 108],
  ['vrrp', 112],
  ['l2tp', 115],
  ['isis', 124],
  ['sctp', 132],
  ['fc', 133],
  ['mobility-header', 135],
  ['udplite', 136],
  ['mpls-in-ip', 137],
  ['manet', 138],
  ['hip', 139],
  ['shim6', 140],
  ['wesp', 141],
  ['rohc', 142],
  ['ethernet', 143],
]);

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

/** Protocols whose elements carry a real port; every other protocol must be written with port 0. */
export function hasPorts(protocol: number): boolean {
  return protocol === IPPROTO_TCP || protocol === IPPROTO_UDP || protocol === IPPROTO_SCTP || protocol === IPPROTO_UDPLITE;
}

/** A protocol name or number (1-255) as ipset accepts it; undefined when it is neither. */
export function parseProtocol(text: string): number | undefined {
  if (/^\d{1,3}$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= 255 ? n : undefined;
  }
  return PROTOCOL_NUMBERS.get(text.toLowerCase());
}

const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map(
  [...PROTOCOL_NUMBERS].filter(([name]) => name !== 'icmpv6').map(([name, n]) => [n, name]),
);

export function formatProtocol(protocol: number): string {
  return PROTOCOL_NAMES.get(protocol) ?? String(protocol);
}

type IcmpNames = ReadonlyMap<string, readonly [type: number, code: number]>;

const ICMP_NAMES: IcmpNames = new Map([
  ['echo-reply', [0, 0]],
  ['pong', [0, 0]],
  ['network-unreachable', [3, 0]],
  ['host-unreachable', [3, 1]],
  ['protocol-unreachable', [3, 2]],
  ['port-unreachable', [3, 3]],
  ['fragmentation-needed', [3, 4]],
  ['source-route-failed', [3, 5]],
  ['network-unknown', [3, 6]],
  ['host-unknown', [3, 7]],
  ['network-prohibited', [3, 9]],
  ['host-prohibited', [3, 10]],
  ['TOS-network-unreachable', [3, 11]],
  ['TOS-host-unreachable', [3, 12]],
  ['communication-prohibited', [3, 13]],
  ['host-precedence-violation', [3, 14]],
  ['precedence-cutoff', [3, 15]],
  ['source-quench', [4, 0]],
  ['network-redirect', [5, 0]],
  ['host-redirect', [5, 1]],
  ['TOS-network-redirect', [5, 2]],
  ['TOS-host-redirect', [5, 3]],
  ['echo-request', [8, 0]],
  ['ping', [8, 0]],
  ['router-advertisement', [9, 0]],
  ['router-solicitation', [10, 0]],
  ['ttl-zero-during-transit', [11, 0]],
  ['ttl-zero-during-reassembly', [11, 1]],
  ['ip-header-bad', [12, 0]],
  ['required-option-missing', [12, 1]],
  ['timestamp-request', [13, 0]],
  ['timestamp-reply', [14, 0]],
  ['address-mask-request', [17, 0]],
  ['address-mask-reply', [18, 0]],
]);

const ICMPV6_NAMES: IcmpNames = new Map([
  ['no-route', [1, 0]],
  ['communication-prohibited', [1, 1]],
  ['address-unreachable', [1, 3]],
  ['port-unreachable', [1, 4]],
  ['packet-too-big', [2, 0]],
  ['ttl-zero-during-transit', [3, 0]],
  ['ttl-zero-during-reassembly', [3, 1]],
  ['bad-header', [4, 0]],
  ['unknown-header-type', [4, 1]],
  ['unknown-option', [4, 2]],
  ['echo-request', [128, 0]],
  ['ping', [128, 0]],
  ['echo-reply', [129, 0]],
  ['pong', [129, 0]],
  ['router-solicitation', [133, 0]],
  ['router-advertisement', [134, 0]],
  ['neighbour-solicitation', [135, 0]],
  ['neighbour-advertisement', [136, 0]],
  ['redirect', [137, 0]],
]);

/**
 * The `port` of an ICMP element: the kernel keys ICMP by `type << 8 | code` in the port field
 * (ip_set_getport.c). Accepts a name from ipset's table or `TYPE/CODE`.
 */
export function parseIcmpTypeCode(protocol: number, text: string): number | undefined {
  const names = protocol === IPPROTO_ICMPV6 ? ICMPV6_NAMES : ICMP_NAMES;
  const named = names.get(text);
  if (named) return (named[0] << 8) | named[1];
  const m = /^(\d{1,3})\/(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const type = Number(m[1]);
  const code = Number(m[2]);
  return type <= 255 && code <= 255 ? (type << 8) | code : undefined;
}

export function isIcmpProtocol(protocol: number): boolean {
  return protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6;
}
