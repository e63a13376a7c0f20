// The state of one walk through netfilter: the packet as it is now, where the walk is (stage,
// chain stack, rule), what it has done (trace, NAT, warnings) and the branch's probability. A
// branch point copies it; everything else mutates it in place, so a walk allocates little.

import type { Packet } from '../../model/packet.js';
import type { Warning } from '../../model/warning.js';
import type { CompiledChain } from './compile.js';
import type { Stage } from './hooks.js';
import { ipv4Number, packetProtocolNumber, tcpFlagBits, type MatchEnv, type WalkContext } from './match-eval.js';
import type { HookName, Match, TableName } from './model.js';
import type { ConntrackTuple, NatApplied, NetfilterRouteDecision, TraceStep } from './trace-types.js';

export interface Frame {
  chain: CompiledChain;
  /** The next rule to look at. */
  index: number;
}

export class WalkState implements MatchEnv {
  packet: Packet;
  src4 = 0;
  dst4 = 0;
  flagBits = 0;
  protocol = 0;

  hook: HookName = 'PREROUTING';
  table: TableName = 'raw';
  /** Interfaces as the current hook sees them (MatchEnv). */
  inIface = '';
  outIface: string | undefined = '';
  /** The interface the packet arrived on (incoming), and the one routing chose. */
  arrivedOn: string | undefined;
  routedOut: string | undefined;
  /**
   * The output device of the LOCAL_OUT hook: fixed when the hook is entered (the socket's route).
   * A re-route inside the hook (a mark or DNAT changed in mangle/nat OUTPUT) changes the route,
   * not what `-o` sees in the rest of that hook; POSTROUTING sees the new device.
   */
  outputHookOut: string | undefined;
  route: NetfilterRouteDecision | undefined;
  /** Addresses, mark and TOS when last routed: OUTPUT re-routes a local packet if they change. */
  routedKey = '';

  original: ConntrackTuple | undefined;
  dnat: boolean | undefined;
  snat: boolean | undefined;
  natInitDestination = false;
  natInitSource = false;
  notrack = false;

  stages: readonly Stage[];
  stageIndex = 0;
  frames: Frame[] = [];
  /** The built-in chain of the table being walked (its policy ends it). */
  builtin: CompiledChain | undefined;
  /** How many random (statistic) matches of the current rule this branch takes as matching. */
  assumed = 0;
  /**
   * What this branch assumes about facts it cannot know (an unknown match, an unknown set's
   * membership for a packet), so that every rule looking at the same fact agrees.
   */
  assumptions: Map<Match | string, boolean> | undefined;
  /** Why this branch took the current rule as matching; goes into its trace step. */
  note: string | undefined;

  trace: TraceStep[] = [];
  warnings: Warning[] = [];
  nat: NatApplied[] = [];
  /** The probability of this branch. */
  weight = 1;
  /** Rules looked at, to stop a walk that loops (a dump iptables would refuse). */
  steps = 0;

  // MatchEnv outputs.
  reason = '';
  factKey = '';
  factNegated = false;
  probability = 0;

  constructor(
    readonly ctx: WalkContext,
    packet: Packet,
    stages: readonly Stage[],
  ) {
    this.packet = packet;
    this.stages = stages;
    this.setPacket(packet);
  }

  setPacket(packet: Packet): void {
    this.packet = packet;
    this.src4 = ipv4Number(packet.src);
    this.dst4 = ipv4Number(packet.dst);
    this.flagBits = tcpFlagBits(packet);
    this.protocol = packetProtocolNumber(packet);
  }

  clone(): WalkState {
    const copy = Object.assign(Object.create(WalkState.prototype) as WalkState, this);
    copy.frames = this.frames.map((f) => ({ chain: f.chain, index: f.index }));
    copy.trace = this.trace.slice();
    copy.warnings = this.warnings.slice();
    copy.nat = this.nat.slice();
    if (this.assumptions !== undefined) copy.assumptions = new Map(this.assumptions);
    return copy;
  }

  /** The frame of the chain being walked. */
  top(): Frame {
    return this.frames[this.frames.length - 1] as Frame;
  }
}
