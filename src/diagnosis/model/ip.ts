// IP addresses and prefixes as numbers, so that matching a packet against tens of thousands of
// rules and routes is integer arithmetic rather than string work. IPv4 addresses are held in the
// low 32 bits of a bigint, IPv6 in 128 bits; the family keeps them apart.

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A prefix such as 10.244.0.0/16; `network` has the host bits cleared. */
export interface IpPrefix {
  readonly family: IpFamily;
  readonly network: bigint;
  readonly length: number;
}

const FAMILY_BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

export function familyBits(family: IpFamily): number {
  return FAMILY_BITS[family];
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups: rewrite it as hex.
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    body = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): bigint[] | undefined => {
    if (s === '') return [];
    const groups: bigint[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(BigInt(`0x${g}`));
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === undefined || rest === undefined) return undefined;
  const explicit = head.length + rest.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  const groups = [...head, ...Array<bigint>(8 - explicit).fill(0n), ...rest];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses a textual IPv4 or IPv6 address (no prefix, no zone); undefined when it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

export function isIp(text: string): boolean {
  return parseIp(text) !== undefined;
}

function mask(family: IpFamily, length: number): bigint {
  const bits = BigInt(FAMILY_BITS[family]);
  const len = BigInt(length);
  return ((1n << len) - 1n) << (bits - len);
}

export function prefixOf(address: IpAddress, length: number): IpPrefix {
  return { family: address.family, network: address.value & mask(address.family, length), length };
}

/**
 * Parses `a.b.c.d/len`, a bare address (a host prefix), or the words `default`/`any` used by
 * iproute2 for the all-zero prefix. Host bits are cleared, as the kernel does for routes.
 */
export function parsePrefix(text: string, family?: IpFamily): IpPrefix | undefined {
  if (text === 'default' || text === 'any' || text === 'all') {
    return family === undefined ? undefined : { family, network: 0n, length: 0 };
  }
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  if (slash < 0) return prefixOf(address, FAMILY_BITS[address.family]);
  const lengthText = text.slice(slash + 1);
  if (/^\d{1,3}$/.test(lengthText)) {
    const length = Number(lengthText);
    return length <= FAMILY_BITS[address.family] ? prefixOf(address, length) : undefined;
  }
  // iptables-save writes IPv4 masks that are not a prefix length as a dotted mask.
  const dotted = address.family === 4 ? parseIpv4(lengthText) : undefined;
  if (dotted === undefined) return undefined;
  const length = dotted.toString(2).replace(/0+$/, '').length;
  if (mask(4, length) !== dotted) return undefined;
  return prefixOf(address, length);
}

export function prefixContains(prefix: IpPrefix, address: IpAddress): boolean {
  return prefix.family === address.family && (address.value & mask(prefix.family, prefix.length)) === prefix.network;
}

export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

export function formatIp(address: IpAddress): string {
  if (address.family === 4) {
    const v = address.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((address.value >> shift) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run (of two or more) of zero groups.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${formatIp({ family: prefix.family, value: prefix.network })}/${prefix.length}`;
}

/** Adds `offset` to an address, wrapping within its family (used to walk ranges). */
export function ipAdd(address: IpAddress, offset: bigint): IpAddress {
  const space = 1n << BigInt(FAMILY_BITS[address.family]);
  return { family: address.family, value: (((address.value + offset) % space) + space) % space };
}

export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}
