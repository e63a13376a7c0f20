// The names iproute2 prints for numbers: routing tables (/etc/iproute2/rt_tables), route types,
// scopes (rt_scopes), DS field values (rt_dsfield), IP protocols (/etc/protocols) and interface
// groups (/etc/iproute2/group). iproute2 falls back to the number when it knows no name; a name
// from a site-specific file that we do not know is reported, never guessed.

/** Well-known routing table ids (include/uapi/linux/rtnetlink.h). */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

const TABLE_IDS: ReadonlyMap<string, number> = new Map([
  ['unspec', RT_TABLE_UNSPEC],
  ['default', RT_TABLE_DEFAULT],
  ['main', RT_TABLE_MAIN],
  ['local', RT_TABLE_LOCAL],
]);

/** The name `ip` prints for a table id: `local`, `main`, `default`, or the number. */
export function tableName(id: number): string {
  for (const [name, value] of TABLE_IDS) if (value === id && name !== 'unspec') return name;
  return String(id);
}

/**
 * A table id from its printed form. `extra` holds site-specific names (rt_tables.d). Returns
 * undefined for a name nobody knows.
 */
export function tableId(text: string, extra?: Readonly<Record<string, number>>): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n <= 0xffffffff ? n : undefined;
  }
  const known = TABLE_IDS.get(text);
  if (known !== undefined) return known;
  return extra !== undefined && Object.hasOwn(extra, text) ? extra[text] : undefined;
}

/**
 * A stable stand-in id for a table name we cannot resolve: negative, so it never collides with a
 * real (unsigned 32-bit) id, and the same for the same name in every dump (FNV-1a), so that a
 * rule `lookup NAME` still reaches the routes printed with `table NAME`.
 */
export function unresolvedTableId(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return -1 - (hash & 0x3fffffff);
}

/** Route types (RTN_*), as `ip route` prints them. */
export const ROUTE_TYPES = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
] as const;
export type RouteType = (typeof ROUTE_TYPES)[number];

export function isRouteType(text: string): text is RouteType {
  return (ROUTE_TYPES as readonly string[]).includes(text);
}

/** Route and address scopes (RT_SCOPE_*); a smaller number is a wider scope. */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

const SCOPES: ReadonlyMap<string, number> = new Map([
  ['global', RT_SCOPE_UNIVERSE],
  ['universe', RT_SCOPE_UNIVERSE],
  ['site', RT_SCOPE_SITE],
  ['link', RT_SCOPE_LINK],
  ['host', RT_SCOPE_HOST],
  ['nowhere', RT_SCOPE_NOWHERE],
]);

export function scopeId(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n <= 255 ? n : undefined;
  }
  return SCOPES.get(text);
}

export function scopeName(scope: number): string {
  for (const [name, value] of SCOPES) if (value === scope && name !== 'universe') return name;
  return String(scope);
}

/** DS field names of the stock rt_dsfield file; iproute2 prints `0x..` for the others. */
const DSFIELD: ReadonlyMap<string, number> = new Map([
  ['default', 0x00],
  ['AF11', 0x28],
  ['AF12', 0x30],
  ['AF13', 0x38],
  ['AF21', 0x48],
  ['AF22', 0x50],
  ['AF23', 0x58],
  ['AF31', 0x68],
  ['AF32', 0x70],
  ['AF33', 0x78],
  ['AF41', 0x88],
  ['AF42', 0x90],
  ['AF43', 0x98],
  ['CS1', 0x20],
  ['CS2', 0x40],
  ['CS3', 0x60],
  ['CS4', 0x80],
  ['CS5', 0xa0],
  ['CS6', 0xc0],
  ['CS7', 0xe0],
  ['EF', 0xb8],
]);

/** A TOS/DS field byte from `0x10`, `16` or a stock name such as `CS1`. */
export function dsfieldValue(text: string): number | undefined {
  if (/^0x[0-9a-f]{1,2}$/i.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^\d{1,3}$/.test(text)) {
    const n = Number(text);
    return n <= 255 ? n : undefined;
  }
  return DSFIELD.get(text);
}

export function formatTos(tos: number): string {
  return `0x${tos.toString(16).padStart(2, '0')}`;
}

/** IP protocol names as getprotobynumber(3) prints them (netbase /etc/protocols), plus aliases. */
const IP_PROTOCOLS: ReadonlyMap<string, number> = new Map([
  ['ip', 0],
  ['hopopt', 0],
  ['icmp', 1],
  ['igmp', 2],
  ['ipencap', 4],
  ['ipip', 4],
  ['tcp', 6],
  ['egp', 8],
  ['udp', 17],
  ['dccp', 33],
  ['ipv6', 41],
  ['ipv6-route', 43],
  ['ipv6-frag', 44],
  ['rsvp', 46],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
  ['ipv6-icmp', 58],
  ['icmpv6', 58],
  ['ipv6-nonxt', 59],
  ['ipv6-opts', 60],
  ['ospf', 89],
  ['vrrp', 112],
  ['l2tp', 115],
  ['sctp', 132],
  ['udplite', 136],
  ['mpls-in-ip', 137],
]);

/** An IP protocol number from a name, a number, or iproute2's `ipproto-N` fallback. */
export function ipProtocolNumber(text: string): number | undefined {
  const m = /^(?:ipproto-)?(\d{1,3})$/.exec(text);
  if (m?.[1] !== undefined) {
    const n = Number(m[1]);
    return n <= 255 ? n : undefined;
  }
  return IP_PROTOCOLS.get(text.toLowerCase());
}

export function ipProtocolName(protocol: number): string {
  for (const [name, value] of IP_PROTOCOLS) if (value === protocol && name !== 'ip' && name !== 'ipip') return name;
  return String(protocol);
}

/** Interface group: `default` is 0 (the only name of the stock /etc/iproute2/group). */
export function groupId(text: string): number | undefined {
  if (text === 'default') return 0;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n <= 0xffffffff ? n : undefined;
  }
  return undefined;
}
