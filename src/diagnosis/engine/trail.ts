// The record of one branch of the walk: the netnodes it crossed with what each did, the links
// between them, suspicions, warnings, the NAT applied on the way (for the reply's un-NAT) and the
// (netns, interface, packet) triples already seen (loop detection).

import type { Direction, NetNodeAction, NetNodeType, PathLink, Suspicion } from '../model/diagnosis.js';
import { formatIp } from '../model/ip.js';
import type { Packet } from '../model/packet.js';
import type { Warning } from '../model/warning.js';
import type { NatApplied } from '../netstack/netfilter/index.js';

export interface TrailHop {
  readonly id: string;
  readonly type: NetNodeType;
  readonly actions: NetNodeAction[];
}

export interface Trail {
  readonly hops: TrailHop[];
  readonly links: PathLink[];
  readonly suspicions: Suspicion[];
  readonly warnings: Warning[];
  readonly nat: { readonly netnode: string; readonly nat: NatApplied }[];
  readonly visited: Set<string>;
  steps: number;
}

export function emptyTrail(): Trail {
  return { hops: [], links: [], suspicions: [], warnings: [], nat: [], visited: new Set(), steps: 0 };
}

/** A copy that a branch can extend without touching its siblings. */
export function forkTrail(t: Trail): Trail {
  return {
    hops: t.hops.map((h) => ({ ...h, actions: [...h.actions] })),
    links: [...t.links],
    suspicions: [...t.suspicions],
    warnings: [...t.warnings],
    nat: [...t.nat],
    visited: new Set(t.visited),
    steps: t.steps,
  };
}

/** Adds an action to the netnode; a netnode entered again later gets a new hop. */
export function addAction(t: Trail, id: string, type: NetNodeType, action: NetNodeAction): void {
  const last = t.hops[t.hops.length - 1];
  if (last?.id === id) last.actions.push(action);
  else t.hops.push({ id, type, actions: [action] });
}

export function formatPacket(p: Packet): string {
  if (p.protocol === 'icmp') return `icmp ${formatIp(p.src)} > ${formatIp(p.dst)} type ${p.icmpType ?? '?'}`;
  return `${p.protocol} ${formatIp(p.src)}:${p.sport} > ${formatIp(p.dst)}:${p.dport}`;
}

/** What identifies a packet for loop detection. */
export function packetKey(p: Packet): string {
  return `${p.protocol}|${formatIp(p.src)}|${p.sport}|${formatIp(p.dst)}|${p.dport}|${p.mark}|${p.icmpType ?? ''}`;
}

export type { Direction };
