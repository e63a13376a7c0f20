// One routing table, indexed for longest-prefix match: routes grouped by prefix length, then by
// network. Within one prefix the kernel keeps its aliases ordered by TOS (highest first) and then
// by metric (lowest first) (fib_find_alias in net/ipv4/fib_trie.c); routes equal in both keep
// the order of the dump, which is the kernel's list order.

import { familyBits, type IpAddress, type IpFamily } from '../../model/ip.js';
import type { Route } from './route.js';

export class FibTable {
  /** Prefix lengths present, longest first, with their network masks. */
  private readonly lengths: ReadonlyArray<readonly [number, bigint]>;
  private readonly byLength: Map<number, Map<bigint, Route[]>>;
  readonly size: number;

  constructor(
    readonly family: IpFamily,
    readonly id: number,
    readonly name: string,
    routes: readonly Route[],
  ) {
    this.byLength = new Map();
    for (const route of routes) {
      let byNetwork = this.byLength.get(route.dst.length);
      if (byNetwork === undefined) {
        byNetwork = new Map();
        this.byLength.set(route.dst.length, byNetwork);
      }
      const list = byNetwork.get(route.dst.network);
      if (list === undefined) byNetwork.set(route.dst.network, [route]);
      else list.push(route);
    }
    for (const byNetwork of this.byLength.values()) {
      for (const list of byNetwork.values()) list.sort(compareAliases);
    }
    const bits = familyBits(family);
    this.lengths = [...this.byLength.keys()]
      .sort((a, b) => b - a)
      .map((length) => [length, length === 0 ? 0n : ((1n << BigInt(length)) - 1n) << BigInt(bits - length)] as const);
    this.size = routes.length;
  }

  /**
   * The routes whose prefix contains `dst`, longest prefix first and, within a prefix, in the
   * kernel's alias order. The caller applies the per-route checks and stops at the first usable.
   */
  *candidates(dst: IpAddress): Generator<Route> {
    for (const [length, mask] of this.lengths) {
      const list = this.byLength.get(length)?.get(dst.value & mask);
      if (list !== undefined) yield* list;
    }
  }

  /** The routes of one exact prefix, in alias order. */
  routesOf(network: bigint, length: number): readonly Route[] {
    return this.byLength.get(length)?.get(network) ?? [];
  }
}

function compareAliases(a: Route, b: Route): number {
  if (a.tos !== b.tos) return b.tos - a.tos;
  if (a.metric !== b.metric) return a.metric - b.metric;
  return a.index - b.index;
}
