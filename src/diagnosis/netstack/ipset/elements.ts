// Parsing of the element of an `add` line, one dimension at a time. Ranges are expanded the way
// the kernel stores them: an address range or CIDR in an `ip` dimension becomes one element per
// address (per netmask block for hash:ip), a range in a `net` dimension becomes the CIDRs that
// cover it exactly, a port range becomes one element per port.

import { familyBits, parseIp, parsePrefix, type IpAddress, type IpFamily, type IpPrefix } from '../../model/ip.js';
import { hasPorts, isIcmpProtocol, IPPROTO_ICMPV6, IPPROTO_TCP, parseIcmpTypeCode, parseProtocol } from './protocols.js';
import type { IpsetElementKind, IpsetElementPart } from './types.js';

/** Above this many elements from one `add` line we refuse rather than allocate without bound. */
export const MAX_EXPANSION = 1 << 20;

/** A malformed element; the parser adds the source and line. */
export class ElementError extends Error {}

interface AddressSpan {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
}

/** `IP`, `IP/CIDR` or `IP-IP` as the inclusive span of addresses it covers. */
export function parseAddressSpan(text: string, family: IpFamily): AddressSpan {
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const a = parseIp(text.slice(0, dash));
    const b = parseIp(text.slice(dash + 1));
    if (!a || !b) throw new ElementError(`invalid address range "${text}"`);
    checkFamily(a.family, family, text);
    checkFamily(b.family, family, text);
    // ipset accepts a reversed range and swaps its ends, as the kernel does for port ranges.
    return a.value <= b.value
      ? { family, first: a.value, last: b.value }
      : { family, first: b.value, last: a.value };
  }
  const prefix = parsePrefix(text);
  if (!prefix || (text.includes('/') && !/\/\d{1,3}$/.test(text))) throw new ElementError(`invalid address "${text}"`);
  checkFamily(prefix.family, family, text);
  const hostBits = BigInt(familyBits(family) - prefix.length);
  return { family, first: prefix.network, last: prefix.network | ((1n << hostBits) - 1n) };
}

function checkFamily(actual: IpFamily, expected: IpFamily, text: string): void {
  if (actual !== expected) {
    throw new ElementError(`"${text}" is an IPv${actual} address in a family inet${expected === 6 ? '6' : ''} set`);
  }
}

/** The CIDRs that cover exactly [first, last], largest blocks first (ip_set_range_to_cidr). */
export function spanToPrefixes(span: AddressSpan): IpPrefix[] {
  const bits = familyBits(span.family);
  const out: IpPrefix[] = [];
  let start = span.first;
  while (start <= span.last) {
    let length = bits;
    // Grow the block while it stays aligned at `start` and inside the span.
    while (length > 0) {
      const size = 1n << BigInt(bits - length + 1);
      if (start % size !== 0n || start + size - 1n > span.last) break;
      length--;
    }
    out.push({ family: span.family, network: start, length });
    if (out.length > MAX_EXPANSION) throw new ElementError('range expands to too many networks');
    start += 1n << BigInt(bits - length);
  }
  return out;
}

/** Addresses of a span, one per block of `mask` (the hash:ip netmask), masked. */
function spanToAddresses(span: AddressSpan, mask: bigint): IpAddress[] {
  const bits = BigInt(familyBits(span.family));
  const all = (1n << bits) - 1n;
  // The step is the size of the host part of a prefix mask; a non-prefix bitmask steps by one.
  const inverse = all & ~mask;
  const step = (inverse & (inverse + 1n)) === 0n ? inverse + 1n : 1n;
  const count = (span.last - (span.first & mask)) / step + 1n;
  if (count > BigInt(MAX_EXPANSION)) throw new ElementError(`range expands to ${count} elements`);
  const seen = new Set<bigint>();
  const out: IpAddress[] = [];
  for (let v = span.first & mask; v <= span.last; v += step) {
    const masked = v & mask;
    if (!seen.has(masked)) {
      seen.add(masked);
      out.push({ family: span.family, value: masked });
    }
  }
  return out;
}

/**
 * `[PROTO:]PORT[-PORT]`, `icmp:NAME|TYPE/CODE`, `PROTO:0` for protocols without ports. A bare port
 * means TCP, as in ipset(8).
 */
export function parsePortSpec(text: string, family: IpFamily): { protocol: number; port: number }[] {
  const colon = text.indexOf(':');
  let protocol = IPPROTO_TCP;
  let portText = text;
  if (colon >= 0) {
    const p = parseProtocol(text.slice(0, colon));
    if (p === undefined) throw new ElementError(`unknown protocol "${text.slice(0, colon)}" in "${text}"`);
    protocol = p;
    portText = text.slice(colon + 1);
  }
  if (isIcmpProtocol(protocol)) {
    if ((protocol === IPPROTO_ICMPV6) !== (family === 6)) {
      throw new ElementError(`"${text}": ${family === 6 ? 'ICMP' : 'ICMPv6'} in a family inet${family === 6 ? '6' : ''} set`);
    }
    const port = parseIcmpTypeCode(protocol, portText);
    if (port === undefined) throw new ElementError(`cannot parse "${portText}" as an ICMP type/code`);
    return [{ protocol, port }];
  }
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(portText);
  if (!m) throw new ElementError(`invalid port "${portText}" in "${text}"`);
  let from = Number(m[1]);
  let to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535) throw new ElementError(`port out of range in "${text}"`);
  if (from > to) [from, to] = [to, from];
  if (!hasPorts(protocol) && (from !== 0 || to !== 0)) {
    throw new ElementError(`"${text}": protocol ${protocol} has no ports, the port must be 0`);
  }
  const out: { protocol: number; port: number }[] = [];
  for (let port = from; port <= to; port++) out.push({ protocol, port });
  return out;
}

/**
 * Parses one element (`10.0.0.1,udp:53,10.1.0.0/16`) into every combination it stands for, each
 * a list of parts in the order of `kinds`. `mask` applies to `ip` parts (hash:ip netmask).
 */
export function parseHashElement(
  text: string,
  kinds: readonly IpsetElementKind[],
  family: IpFamily,
  mask: bigint,
): IpsetElementPart[][] {
  const fields = text.split(',');
  if (fields.length !== kinds.length) {
    throw new ElementError(`element "${text}" has ${fields.length} part(s), the set type has ${kinds.length}`);
  }
  const choices: IpsetElementPart[][] = kinds.map((kind, i) => {
    const field = fields[i] ?? '';
    switch (kind) {
      case 'ip': {
        // The common case, one address, without building a span.
        const single = field.includes('-') || field.includes('/') ? undefined : parseIp(field);
        if (single) {
          checkFamily(single.family, family, field);
          return [{ kind, address: { family, value: single.value & mask } }];
        }
        return spanToAddresses(parseAddressSpan(field, family), mask).map((address) => ({ kind, address }));
      }
      case 'net': {
        // A CIDR (what ipset save prints) is already the element; only ranges need splitting.
        const cidr = !field.includes('-') && /^[^/]*(\/\d{1,3})?$/.test(field) ? parsePrefix(field) : undefined;
        if (cidr) checkFamily(cidr.family, family, field);
        const prefixes = cidr ? [cidr] : spanToPrefixes(parseAddressSpan(field, family));
        // ipset refuses a zero prefix length in hash:net types ("zero valued IP address/cidr").
        if (prefixes.some((p) => p.length === 0)) throw new ElementError(`"${field}": a /0 network is not allowed`);
        return prefixes.map((prefix) => ({ kind, prefix }));
      }
      case 'port':
        return parsePortSpec(field, family).map(({ protocol, port }) => ({ kind, protocol, port }));
    }
    return [];
  });
  const total = choices.reduce((n, c) => n * c.length, 1);
  if (total > MAX_EXPANSION) throw new ElementError(`element "${text}" expands to ${total} elements`);
  let combos: IpsetElementPart[][] = [[]];
  for (const options of choices) combos = combos.flatMap((prefix) => options.map((o) => [...prefix, o]));
  return combos;
}
