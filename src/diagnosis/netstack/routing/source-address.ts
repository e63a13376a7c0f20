// Preferred source address selection.
//
// IPv4 is inet_select_addr() (net/ipv4/devinet.c): on the output device, the first primary
// address (in the device's list order) whose scope is not narrower than the route's, preferring
// one on the same subnet as `near` (the gateway); failing that, the first primary address of any
// device, in device order, whose scope is neither link nor narrower than the route's.
//
// IPv6 source selection is RFC 6724 (ipv6_dev_get_saddr), of which only the main rules are
// modelled: same scope as the destination, not tentative/dadfailed, deprecated last, longest
// matching prefix, output device first.

import { familyBits, prefixOf, type IpAddress } from '../../model/ip.js';
import type { Address } from './address.js';
import { RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from './names.js';
import type { RoutingState } from './state.js';
import { effectiveFlag } from './sysctls.js';

function onSubnet(address: Address, ip: IpAddress): boolean {
  const base = address.peer ?? address.local;
  if (base.family !== ip.family) return false;
  return prefixOf(base, address.prefixLength).network === prefixOf(ip, address.prefixLength).network;
}

/** inet_select_addr(dev, near, scope). */
export function selectIpv4Source(state: RoutingState, dev: string | undefined, near: IpAddress | undefined, scope: number): IpAddress | undefined {
  const localnetScope = dev !== undefined && effectiveFlag(state.sysctls, dev, 'routeLocalnet').value ? RT_SCOPE_LINK : RT_SCOPE_HOST;
  let fallback: IpAddress | undefined;
  for (const a of dev === undefined ? [] : (state.addressesByDev.get(dev) ?? [])) {
    if (a.family !== 4 || a.secondary) continue;
    if (Math.min(a.scope, localnetScope) > scope) continue;
    if (near === undefined || near.family !== 4 || near.value === 0n || onSubnet(a, near)) return a.local;
    fallback ??= a.local;
  }
  if (fallback !== undefined) return fallback;
  for (const link of state.linkList) {
    for (const a of state.addressesByDev.get(link.name) ?? []) {
      if (a.family !== 4 || a.secondary) continue;
      if (a.scope !== RT_SCOPE_LINK && a.scope <= scope) return a.local;
    }
  }
  return undefined;
}

function ipv6Scope(ip: IpAddress): number {
  if (ip.value === 1n) return RT_SCOPE_HOST;
  if (ip.value >> 118n === 0x3fan) return RT_SCOPE_LINK; // fe80::/10
  return RT_SCOPE_UNIVERSE;
}

function commonPrefixLength(a: IpAddress, b: IpAddress): number {
  const bits = familyBits(a.family);
  let x = a.value ^ b.value;
  let len = bits;
  while (x !== 0n) {
    x >>= 1n;
    len--;
  }
  return len;
}

/** The main rules of RFC 6724 source selection; `ambiguous` when the rules modelled leave a tie. */
export function selectIpv6Source(state: RoutingState, dev: string | undefined, dst: IpAddress): { src?: IpAddress; ambiguous: boolean } {
  const dstScope = ipv6Scope(dst);
  const usable = (a: Address): boolean =>
    a.family === 6 && !a.flags.includes('tentative') && !a.flags.includes('dadfailed') && ipv6Scope(a.local) === dstScope;
  const rank = (a: Address, onDev: boolean): number[] => [
    a.flags.includes('deprecated') ? 0 : 1,
    onDev ? 1 : 0,
    commonPrefixLength(a.local, dst),
  ];
  const candidates: Array<{ a: Address; key: number[] }> = [];
  for (const link of state.linkList) {
    for (const a of state.addressesByDev.get(link.name) ?? []) {
      if (usable(a) && (dstScope !== RT_SCOPE_LINK || link.name === dev)) candidates.push({ a, key: rank(a, link.name === dev) });
    }
  }
  if (candidates.length === 0) return { ambiguous: false };
  candidates.sort((x, y) => compareKeys(y.key, x.key));
  const [best, second] = candidates;
  if (best === undefined) return { ambiguous: false };
  return { src: best.a.local, ambiguous: second !== undefined && compareKeys(best.key, second.key) === 0 };
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
