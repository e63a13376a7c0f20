// Parsers of the values that appear in iptables rules: numbers, marks, port ranges, protocol and
// ICMP type names, addresses with masks, address ranges, NAT ranges. Each returns undefined for
// text it cannot read; the caller decides whether that is an error or an `unknown` member.

import { familyBits, parseIp, type IpAddress, type IpFamily } from '../../model/ip.js';
import type { AddressMask, NatRange, NumberRange } from './model.js';

/** An unsigned integer in decimal, or hexadecimal with `0x` (iptables writes marks in hex). */
export function parseUint(text: string, max = 0xffffffff): number | undefined {
  const n = text.length;
  if (n === 0 || n > 12) return undefined;
  let value = 0;
  if (n > 2 && text.charCodeAt(0) === 0x30 && (text.charCodeAt(1) | 0x20) === 0x78) {
    for (let i = 2; i < n; i++) {
      const c = text.charCodeAt(i);
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x57;
      else return undefined;
      value = value * 16 + d;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return undefined;
      value = value * 10 + (c - 0x30);
    }
  }
  return value <= max ? value : undefined;
}

/** `VALUE[/MASK]` as in `--mark 0x4000/0x4000`; the mask defaults to all ones. */
export function parseValueMask(text: string, max = 0xffffffff): { value: number; mask: number } | undefined {
  const slash = text.indexOf('/');
  const value = parseUint(slash < 0 ? text : text.slice(0, slash), max);
  const mask = slash < 0 ? max : parseUint(text.slice(slash + 1), max);
  if (value === undefined || mask === undefined) return undefined;
  return { value, mask };
}

/**
 * A port or range: `80`, `1000:2000`, `:1023`, `1024:` (iptables-save writes `0:1023` and
 * `1024:65535`). `separator` is `-` for NAT and REDIRECT ports.
 */
export function parsePortRange(text: string, separator = ':'): NumberRange | undefined {
  const sep = text.indexOf(separator);
  if (sep < 0) {
    const port = parseUint(text, 65535);
    return port === undefined ? undefined : { min: port, max: port };
  }
  const minText = text.slice(0, sep);
  const maxText = text.slice(sep + 1);
  const min = minText === '' ? 0 : parseUint(minText, 65535);
  const max = maxText === '' ? 65535 : parseUint(maxText, 65535);
  if (min === undefined || max === undefined || min > max) return undefined;
  return { min, max };
}

/** A multiport list: `80,443,8000:8100`. */
export function parsePortList(text: string): NumberRange[] | undefined {
  const ranges: NumberRange[] = [];
  for (const part of text.split(',')) {
    const range = parsePortRange(part);
    if (range === undefined) return undefined;
    ranges.push(range);
  }
  return ranges;
}

/** Protocol names as iptables accepts and writes them (/etc/protocols names included). */
const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['all', 0],
  ['icmp', 1],
  ['igmp', 2],
  ['ipencap', 4],
  ['tcp', 6],
  ['egp', 8],
  ['udp', 17],
  ['ipv6', 41],
  ['gre', 47],
  ['esp', 50],
  ['ah', 51],
  ['ipv6-icmp', 58],
  ['icmpv6', 58],
  ['icmp6', 58],
  ['ospf', 89],
  ['ipip', 94],
  ['vrrp', 112],
  ['l2tp', 115],
  ['sctp', 132],
  ['mh', 135],
  ['udplite', 136],
  ['dccp', 33],
]);

/** A protocol by name (case-insensitive) or number. */
export function parseProtocol(text: string): number | undefined {
  const known = PROTOCOL_NUMBERS.get(text) ?? PROTOCOL_NUMBERS.get(text.toLowerCase());
  return known ?? parseUint(text, 255);
}

interface IcmpName {
  readonly type: number;
  readonly code?: number;
}

/** `iptables -p icmp -h`: the names `--icmp-type` accepts (iptables-save writes numbers). */
const ICMP_NAMES: ReadonlyMap<string, IcmpName> = new Map([
  ['echo-reply', { type: 0 }],
  ['pong', { type: 0 }],
  ['destination-unreachable', { type: 3 }],
  ['network-unreachable', { type: 3, code: 0 }],
  ['host-unreachable', { type: 3, code: 1 }],
  ['protocol-unreachable', { type: 3, code: 2 }],
  ['port-unreachable', { type: 3, code: 3 }],
  ['fragmentation-needed', { type: 3, code: 4 }],
  ['source-route-failed', { type: 3, code: 5 }],
  ['network-unknown', { type: 3, code: 6 }],
  ['host-unknown', { type: 3, code: 7 }],
  ['network-prohibited', { type: 3, code: 9 }],
  ['host-prohibited', { type: 3, code: 10 }],
  ['TOS-network-unreachable', { type: 3, code: 11 }],
  ['TOS-host-unreachable', { type: 3, code: 12 }],
  ['communication-prohibited', { type: 3, code: 13 }],
  ['host-precedence-violation', { type: 3, code: 14 }],
  ['precedence-cutoff', { type: 3, code: 15 }],
  ['source-quench', { type: 4 }],
  ['redirect', { type: 5 }],
  ['network-redirect', { type: 5, code: 0 }],
  ['host-redirect', { type: 5, code: 1 }],
  ['TOS-network-redirect', { type: 5, code: 2 }],
  ['TOS-host-redirect', { type: 5, code: 3 }],
  ['echo-request', { type: 8 }],
  ['ping', { type: 8 }],
  ['router-advertisement', { type: 9 }],
  ['router-solicitation', { type: 10 }],
  ['time-exceeded', { type: 11 }],
  ['ttl-exceeded', { type: 11 }],
  ['ttl-zero-during-transit', { type: 11, code: 0 }],
  ['ttl-zero-during-reassembly', { type: 11, code: 1 }],
  ['parameter-problem', { type: 12 }],
  ['ip-header-bad', { type: 12, code: 0 }],
  ['required-option-missing', { type: 12, code: 1 }],
  ['timestamp-request', { type: 13 }],
  ['timestamp-reply', { type: 14 }],
  ['address-mask-request', { type: 17 }],
  ['address-mask-reply', { type: 18 }],
]);

/** `ip6tables -p icmpv6 -h`: the names `--icmpv6-type` accepts. */
const ICMP6_NAMES: ReadonlyMap<string, IcmpName> = new Map([
  ['destination-unreachable', { type: 1 }],
  ['no-route', { type: 1, code: 0 }],
  ['communication-prohibited', { type: 1, code: 1 }],
  ['beyond-scope', { type: 1, code: 2 }],
  ['address-unreachable', { type: 1, code: 3 }],
  ['port-unreachable', { type: 1, code: 4 }],
  ['failed-policy', { type: 1, code: 5 }],
  ['reject-route', { type: 1, code: 6 }],
  ['packet-too-big', { type: 2 }],
  ['time-exceeded', { type: 3 }],
  ['ttl-exceeded', { type: 3 }],
  ['ttl-zero-during-transit', { type: 3, code: 0 }],
  ['ttl-zero-during-reassembly', { type: 3, code: 1 }],
  ['parameter-problem', { type: 4 }],
  ['bad-header', { type: 4, code: 0 }],
  ['unknown-header-type', { type: 4, code: 1 }],
  ['unknown-option', { type: 4, code: 2 }],
  ['echo-request', { type: 128 }],
  ['ping', { type: 128 }],
  ['echo-reply', { type: 129 }],
  ['pong', { type: 129 }],
  ['mld-listener-query', { type: 130 }],
  ['mld-listener-report', { type: 131 }],
  ['mld-listener-done', { type: 132 }],
  ['mld-listener-reduction', { type: 132 }],
  ['router-solicitation', { type: 133 }],
  ['router-advertisement', { type: 134 }],
  ['neighbour-solicitation', { type: 135 }],
  ['neighbor-solicitation', { type: 135 }],
  ['neighbour-advertisement', { type: 136 }],
  ['neighbor-advertisement', { type: 136 }],
  ['redirect', { type: 137 }],
]);

/**
 * `--icmp-type`: `any`, a name, `TYPE` or `TYPE/CODE`. A type without a code matches every code.
 * `type` undefined means any type.
 */
export function parseIcmpType(
  text: string,
  v6: boolean,
): { type: number | undefined; codeMin: number; codeMax: number } | undefined {
  if (text === 'any') return { type: undefined, codeMin: 0, codeMax: 255 };
  const named = (v6 ? ICMP6_NAMES : ICMP_NAMES).get(text);
  if (named !== undefined) {
    return { type: named.type, codeMin: named.code ?? 0, codeMax: named.code ?? 255 };
  }
  const slash = text.indexOf('/');
  const type = parseUint(slash < 0 ? text : text.slice(0, slash), 255);
  if (type === undefined) return undefined;
  if (slash < 0) return { type, codeMin: 0, codeMax: 255 };
  const code = parseUint(text.slice(slash + 1), 255);
  return code === undefined ? undefined : { type, codeMin: code, codeMax: code };
}

/** Dotted-quad IPv4 without regexes (the hot path of parsing a large dump); -1 when it is not. */
function parseIpv4Number(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function maskOfLength(family: IpFamily, length: number): bigint {
  const bits = BigInt(familyBits(family));
  return ((1n << BigInt(length)) - 1n) << (bits - BigInt(length));
}

function contiguousLength(family: IpFamily, mask: bigint): number | undefined {
  const bits = familyBits(family);
  let length = 0;
  while (length < bits && ((mask >> BigInt(bits - 1 - length)) & 1n) === 1n) length++;
  return maskOfLength(family, length) === mask ? length : undefined;
}

/**
 * Parses `-s`/`-d` values: `ADDR`, `ADDR/LEN`, `ADDR/MASK` (IPv4 dotted or IPv6 textual masks,
 * contiguous or not). Results are cached per text: a kube-proxy dump repeats the same addresses.
 */
export class AddressParser {
  private readonly cache = new Map<string, AddressMask | null>();

  parse(text: string): AddressMask | undefined {
    const cached = this.cache.get(text);
    if (cached !== undefined) return cached ?? undefined;
    const parsed = parseAddressMask(text);
    this.cache.set(text, parsed ?? null);
    return parsed;
  }
}

export function parseAddressMask(text: string): AddressMask | undefined {
  const slash = text.indexOf('/');
  const end = slash < 0 ? text.length : slash;
  // IPv4 with a prefix length: the common case, without bigint string work.
  const v4 = parseIpv4Number(text, 0, end);
  if (v4 >= 0) {
    let length = 32;
    let mask: bigint;
    if (slash >= 0) {
      const lengthText = text.slice(slash + 1);
      const asLength = lengthText.length <= 2 ? parseUint(lengthText, 32) : undefined;
      if (asLength !== undefined) {
        length = asLength;
        mask = maskOfLength(4, length);
      } else {
        const dotted = parseIpv4Number(lengthText, 0, lengthText.length);
        if (dotted < 0) return undefined;
        mask = BigInt(dotted);
        const contiguous = contiguousLength(4, mask);
        return { family: 4, address: BigInt(v4) & mask, mask, prefixLength: contiguous, text };
      }
    } else {
      mask = 0xffffffffn;
    }
    return { family: 4, address: BigInt(v4) & mask, mask, prefixLength: length, text };
  }
  const address = parseIp(text.slice(0, end));
  if (address === undefined || address.family !== 6) return undefined;
  if (slash < 0) return { family: 6, address: address.value, mask: maskOfLength(6, 128), prefixLength: 128, text };
  const lengthText = text.slice(slash + 1);
  const asLength = parseUint(lengthText, 128);
  if (asLength !== undefined) {
    const mask = maskOfLength(6, asLength);
    return { family: 6, address: address.value & mask, mask, prefixLength: asLength, text };
  }
  const maskAddress = parseIp(lengthText);
  if (maskAddress === undefined || maskAddress.family !== 6) return undefined;
  const mask = maskAddress.value;
  return { family: 6, address: address.value & mask, mask, prefixLength: contiguousLength(6, mask), text };
}

/** An address without a mask: IPv4 without regexes, else the shared parser. */
export function parseAddress(text: string): IpAddress | undefined {
  const v4 = parseIpv4Number(text, 0, text.length);
  return v4 >= 0 ? { family: 4, value: BigInt(v4) } : parseIp(text);
}

/** `A-B` (iprange) or a single address. */
export function parseAddressRange(text: string): { from: IpAddress; to: IpAddress } | undefined {
  const dash = text.indexOf('-');
  const from = parseAddress(dash < 0 ? text : text.slice(0, dash));
  const to = dash < 0 ? from : parseAddress(text.slice(dash + 1));
  if (from === undefined || to === undefined || from.family !== to.family || from.value > to.value) return undefined;
  return { from, to };
}

/**
 * A NAT range: `10.0.0.1`, `10.0.0.1-10.0.0.3`, `10.0.0.1:8080`, `10.0.0.1:8000-8010`,
 * `[fd00::1]:80`, `[fd00::1]-[fd00::3]`, or only ports `:80`.
 */
export function parseNatRange(text: string): NatRange | undefined {
  let addressPart: string;
  let portPart: string | undefined;
  if (text.startsWith('[')) {
    // [A]:P or [A]-[B]:P
    const close = text.lastIndexOf(']');
    if (close < 0) return undefined;
    addressPart = text.slice(0, close + 1).replace(/[[\]]/g, '');
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portPart = rest.slice(1);
    }
  } else {
    const colon = text.indexOf(':');
    if (colon < 0 || colon === text.lastIndexOf(':')) {
      addressPart = colon < 0 ? text : text.slice(0, colon);
      portPart = colon < 0 ? undefined : text.slice(colon + 1);
    } else {
      addressPart = text; // a bare IPv6 address or range
    }
  }
  let minAddress: IpAddress | undefined;
  let maxAddress: IpAddress | undefined;
  if (addressPart !== '') {
    const range = parseAddressRange(addressPart);
    if (range === undefined) return undefined;
    minAddress = range.from;
    maxAddress = range.to;
  }
  let minPort: number | undefined;
  let maxPort: number | undefined;
  if (portPart !== undefined) {
    const ports = parsePortRange(portPart, '-');
    if (ports === undefined) return undefined;
    minPort = ports.min;
    maxPort = ports.max;
  }
  if (minAddress === undefined && minPort === undefined) return undefined;
  const range: { -readonly [K in keyof NatRange]: NatRange[K] } = {};
  if (minAddress !== undefined) range.minAddress = minAddress;
  if (maxAddress !== undefined) range.maxAddress = maxAddress;
  if (minPort !== undefined) range.minPort = minPort;
  if (maxPort !== undefined) range.maxPort = maxPort;
  return range;
}
