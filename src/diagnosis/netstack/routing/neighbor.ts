// `ip -j neigh show`: the ARP and NDP caches.

import type { IpAddress, IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { optional, readEntries, type JsonDump } from './json-reader.js';

/** NUD states as `ip neigh` prints them. */
export type NeighborState =
  | 'INCOMPLETE'
  | 'REACHABLE'
  | 'STALE'
  | 'DELAY'
  | 'PROBE'
  | 'FAILED'
  | 'NOARP'
  | 'PERMANENT'
  | 'NONE';

const NEIGHBOR_STATES: ReadonlySet<string> = new Set([
  'INCOMPLETE',
  'REACHABLE',
  'STALE',
  'DELAY',
  'PROBE',
  'FAILED',
  'NOARP',
  'PERMANENT',
  'NONE',
]);

export interface Neighbor {
  readonly family: IpFamily;
  readonly dst: IpAddress;
  /** The device; absent only in a dump filtered with `dev`, where `options.dev` supplies it. */
  readonly dev: string;
  /** The link-layer address; absent for INCOMPLETE/FAILED entries. */
  readonly lladdr?: string;
  readonly state: readonly NeighborState[];
  readonly router: boolean;
  /** A proxy entry (`ip neigh show proxy`). */
  readonly proxy: boolean;
  readonly externLearn: boolean;
}

export interface ParsedNeighbors {
  readonly neighbors: readonly Neighbor[];
  readonly warnings: readonly Warning[];
}

/** Parses `ip -j [-s] neigh show` (both families, proxy entries too). */
export function parseNeighbors(json: JsonDump, source: string, options: { readonly dev?: string } = {}): ParsedNeighbors {
  const warnings: Warning[] = [];
  const neighbors = readEntries(json, source, 'neighbor', (raw) => {
    const dstText = raw.string('dst');
    const e = raw.relabel(`${raw.entry} (${dstText})`);
    const dst = e.ip('dst');
    const dev = e.optString('dev') ?? options.dev ?? e.fail('dev', 'missing (the dump was filtered by device: pass options.dev)');
    const state: NeighborState[] = [];
    for (const s of e.stringArray('state')) {
      if (NEIGHBOR_STATES.has(s)) state.push(s as NeighborState);
      else warnings.push({ code: 'unknown-neighbor-state', message: `${e.entry}: state "${s}" is not known`, source });
    }
    const neighbor: Neighbor = {
      family: dst.family,
      dst,
      dev,
      ...optional('lladdr', e.optString('lladdr')),
      state,
      router: e.flag('router'),
      proxy: e.flag('proxy'),
      externLearn: e.flag('extern_learn'),
    };
    return neighbor;
  });
  return { neighbors, warnings };
}
