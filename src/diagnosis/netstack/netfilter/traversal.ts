// One packet through the netfilter hooks of one host, in kernel order (hooks.ts), over an
// iptables rule set. Kernel semantics (net/ipv4/netfilter/ip_tables.c ipt_do_table):
//
// - rules in order; the first whose matches all hold fires its target;
// - a jump pushes the chain, a goto replaces the current one; RETURN, or falling off a user chain,
//   resumes the caller after the jumping rule; RETURN in, or falling off, a built-in chain applies
//   its policy;
// - ACCEPT ends this table's chain for this hook (the next table or hook follows); DROP and REJECT
//   end the walk; MARK, CONNMARK, LOG, NFLOG, TRACE, CT, CHECKSUM, DSCP, TOS go on to the next rule;
// - the nat table is consulted only for the first packet of a connection (conntrack NEW, or
//   RELATED), once per manipulation: DNAT/REDIRECT in PREROUTING/OUTPUT, SNAT/MASQUERADE in
//   INPUT/POSTROUTING. A NAT target rewrites the packet (later matches and routing see it) and
//   ends the nat chain as ACCEPT;
// - TPROXY (mangle PREROUTING): with a transparent socket for the packet it sets the mark and
//   ACCEPTs (policy routing then delivers it locally); without one the kernel drops the packet;
//   when the sockets are unknown the outcome is Inconclusive.
//
// What is random (statistic, an address picked from a NAT range) is followed both ways, giving
// several outcomes with probabilities. What is unknown (an unmodelled match, a missing ipset, the
// owner of the socket) is followed both ways too: if both give the same outcomes it did not
// matter; otherwise the outcomes are Inconclusive, with a warning naming the rule. An unknown
// output interface in a rule that looks at it, and an unknown target the packet reaches, make the
// outcome Inconclusive at once.

import type { IpAddress } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import type { Warning } from '../../model/warning.js';
import { assertNever } from '../../model/assert-never.js';
import { chainRules, compileRuleset, type CompiledRule, type CompiledRuleset } from './compile.js';
import { formatTarget } from './format.js';
import { evaluateNftChains, nftHookChains, type NftEvalContext, type NftOutcome } from '../nftables/index.js';
import { buildPathStages, natManipulation, nftHookOf, type PathStages, type Stage } from './hooks.js';
import { addressMatches, evaluateMatch, interfaceMatches, NO, RANDOM, UNDECIDED, YES, type WalkContext } from './match-eval.js';
import type { HookName, Match, Ruleset, TableName, Target } from './model.js';

type NatTarget = Extract<Target, { kind: 'dnat' | 'snat' | 'masquerade' | 'redirect' }>;
import { dedupeOutcomes, markInconclusive, sameOutcomes } from './outcomes.js';
import {
  applyConnmark,
  applyDscp,
  applyMark,
  applyTos,
  natChoices,
  natPort,
  rewriteDestination,
  rewriteSource,
  type NatChoice,
} from './target-effects.js';
import type {
  Delivery,
  HostContext,
  NatApplied,
  Outcome,
  PacketDirection,
  NetfilterRouteDecision,
  TraceOptions,
  TraceResult,
  Verdict,
} from './trace-types.js';
import { WalkState } from './walk-state.js';

export const DEFAULT_MAX_BRANCHES = 1024;
/** Rules looked at in one branch before the walk is declared a loop (iptables refuses loops). */
const MAX_STEPS = 1_000_000;
/** Nested jumps before the walk is declared a loop. */
const MAX_DEPTH = 1024;

type RunResult =
  | { readonly kind: 'done'; readonly outcome: Outcome }
  /** Several ways on, each with its probability; `ended`: ways that already ended (an nft drop). */
  | { readonly kind: 'random'; readonly branches: readonly WalkState[]; readonly ended?: readonly Outcome[] }
  | { readonly kind: 'undecided'; readonly yes: WalkState; readonly no: WalkState; readonly warning: Warning };

function buildContext(host: HostContext, options: TraceOptions, direction: PacketDirection): WalkContext {
  const local4 = new Set<number>();
  const local6 = new Set<bigint>();
  for (const a of host.localAddresses) {
    if (a.family === 4) local4.add(Number(a.value));
    else local6.add(a.value);
  }
  const broadcast4 = new Set<number>();
  const broadcast6 = new Set<bigint>();
  for (const a of host.broadcastAddresses ?? []) {
    if (a.family === 4) broadcast4.add(Number(a.value));
    else broadcast6.add(a.value);
  }
  return { host, options, direction, local4, local6, broadcast4, broadcast6 };
}

function isLocalAddress(ctx: WalkContext, a: IpAddress): boolean {
  if (a.family === 4) {
    const v = Number(a.value);
    return ctx.local4.has(v) || v >>> 24 === 127;
  }
  return ctx.local6.has(a.value) || a.value === 1n;
}

function formatProbability(p: number): string {
  return String(Math.round(p * 1e6) / 1e6);
}

/** The addresses and ports a set lookup depends on. */
function tupleKey(p: Packet): string {
  return `${p.protocol}|${p.src.value}|${p.sport}|${p.dst.value}|${p.dport}`;
}

function routedKey(p: Packet): string {
  return `${p.src.value}|${p.dst.value}|${p.mark}|${p.tos}`;
}

class Walker {
  private branches = 1;
  capped = false;

  constructor(
    private readonly compiled: CompiledRuleset,
    private readonly ctx: WalkContext,
    private readonly maxBranches: number,
    private readonly paths: PathStages,
  ) {}

  private get source(): string {
    return this.compiled.ruleset.source;
  }

  explore(state: WalkState): Outcome[] {
    const r = this.run(state);
    switch (r.kind) {
      case 'done':
        return [r.outcome];
      case 'random': {
        let branches = r.branches;
        const ended = r.ended ?? [];
        const room = this.maxBranches - this.branches - ended.length;
        if (branches.length - 1 > room) {
          this.capped = true;
          branches = branches.slice(0, Math.max(ended.length > 0 ? 0 : 1, room + 1));
        }
        this.branches += Math.max(0, branches.length + ended.length - 1);
        const outcomes: Outcome[] = [...ended];
        for (const b of branches) for (const o of this.explore(b)) outcomes.push(o);
        return dedupeOutcomes(outcomes);
      }
      case 'undecided': {
        if (this.branches >= this.maxBranches) {
          this.capped = true;
          return this.explore(r.no).map((o) => markInconclusive(o, r.warning));
        }
        this.branches += 1;
        const yes = this.explore(r.yes);
        const no = this.explore(r.no);
        // The unknown match does not change where the packet goes: nothing is inconclusive.
        if (sameOutcomes(yes, no)) return no;
        return dedupeOutcomes([...yes, ...no].map((o) => markInconclusive(o, r.warning)));
      }
      default:
        return assertNever(r, 'run result');
    }
  }

  /** Walks until the branch ends or forks. */
  private run(s: WalkState): RunResult {
    for (;;) {
      if (s.frames.length > 0) {
        const r = this.runChain(s);
        if (r !== undefined) return r;
        continue;
      }
      const stage = s.stages[s.stageIndex++];
      if (stage === undefined) return this.done(s, 'INCONCLUSIVE', 'the walk ended without a decision');
      const r = this.runStage(s, stage);
      if (r !== undefined) return r;
    }
  }

  private runStage(s: WalkState, stage: Stage): RunResult | undefined {
    switch (stage.kind) {
      case 'table':
        return this.enterTable(s, stage.hook, stage.table);
      case 'nft':
        return this.runNft(s, stage);
      case 'nat-done':
        if (s.packet.ctState === 'NEW' || s.packet.ctState === 'RELATED') {
          if (natManipulation(stage.hook) === 'destination') s.natInitDestination = true;
          else s.natInitSource = true;
        }
        return undefined;
      case 'conntrack':
        // Conntrack runs after raw: a packet raw marked NOTRACK gets the untracked entry.
        if (s.notrack && s.packet.ctState !== 'UNTRACKED') s.setPacket({ ...s.packet, ctState: 'UNTRACKED' });
        return undefined;
      case 'route-input':
        return this.routeInput(s);
      case 'route-output':
        return this.routeOutput(s, 'output');
      case 'reroute-if-changed':
        return routedKey(s.packet) === s.routedKey ? undefined : this.routeOutput(s, 'reroute');
      case 'deliver':
        return this.done(s, 'ACCEPT', 'delivered to a local socket', { kind: 'local' });
      case 'transmit':
        return this.done(s, 'ACCEPT', `sent out of ${s.routedOut ?? 'an unknown interface'}`, { kind: 'transmit', outIface: s.routedOut });
      default:
        return assertNever(stage, 'stage');
    }
  }

  private enterTable(s: WalkState, hook: HookName, tableName: TableName): RunResult | undefined {
    if (this.compiled.incompatible.has(tableName)) {
      return this.inconclusive(s, `table ${tableName} holds rules iptables-nft-save could not print`, {
        code: 'iptables-table-incompatible',
        message: `${tableName} ${hook}: the table holds nftables rules that iptables-nft-save cannot print; use the nft ruleset`,
        source: this.source,
      });
    }
    const table = this.compiled.tables.get(tableName);
    const chain = table?.chains.get(hook);
    if (chain === undefined) return undefined; // table not loaded or hook not registered: nothing to do
    if (tableName === 'nat') {
      const state = s.packet.ctState;
      if (state !== 'NEW' && state !== 'RELATED') {
        const reason = `conntrack state ${state}: the nat table sees only the first packet of a connection`;
        s.trace.push({ kind: 'skip', hook, table: tableName, reason });
        return undefined;
      }
      // NAT is set up by the first NAT rule of the hook's nat slot (iptables nat and nftables nat
      // chains share it); with none, by a null binding after the whole slot (see runNft).
      if (natManipulation(hook) === 'destination') {
        if (s.natInitDestination) {
          s.trace.push({ kind: 'skip', hook, table: tableName, reason: 'destination NAT is already set up for this connection' });
          return undefined;
        }
      } else if (s.natInitSource) {
        s.trace.push({ kind: 'skip', hook, table: tableName, reason: 'source NAT is already set up for this connection' });
        return undefined;
      }
    }
    s.hook = hook;
    s.table = tableName;
    s.builtin = chain;
    s.frames = [{ chain, index: 0 }];
    s.assumed = 0;
    s.note = undefined;
    // The devices as the hook sees them: none where the kernel passes NULL.
    const incoming = this.ctx.direction.kind === 'incoming';
    switch (hook) {
      case 'PREROUTING':
      case 'INPUT':
        s.inIface = s.arrivedOn ?? '';
        s.outIface = '';
        break;
      case 'FORWARD':
        s.inIface = s.arrivedOn ?? '';
        s.outIface = s.routedOut;
        break;
      case 'OUTPUT':
        s.inIface = '';
        s.outIface = s.outputHookOut;
        break;
      case 'POSTROUTING':
        s.inIface = incoming ? (s.arrivedOn ?? '') : '';
        s.outIface = s.routedOut;
        break;
      default:
        return assertNever(hook, 'hook');
    }
    return undefined;
  }

  /** The hook's native nftables base chains; undefined when the packet goes on unchanged in place. */
  private runNft(s: WalkState, stage: Stage & { kind: 'nft' }): RunResult | undefined {
    const hook = stage.hook;
    const source = this.ctx.host.nftables?.source ?? 'nftables';
    s.hook = hook;
    if (s.packet.src.family !== 4) {
      return this.inconclusive(s, 'only IPv4 packets are evaluated against nftables rule sets', {
        code: 'nft-family',
        message: `${hook}: the host has nftables base chains, and only IPv4 packets are evaluated against them`,
        source,
      });
    }
    // The devices as the hook sees them: none ('') where the kernel passes NULL.
    const incoming = this.ctx.direction.kind === 'incoming';
    let inIface: string;
    let outIface: string | undefined;
    switch (hook) {
      case 'PREROUTING':
      case 'INPUT':
        inIface = s.arrivedOn ?? '';
        outIface = '';
        break;
      case 'FORWARD':
        inIface = s.arrivedOn ?? '';
        outIface = s.routedOut;
        break;
      case 'OUTPUT':
        inIface = '';
        outIface = s.outputHookOut;
        break;
      case 'POSTROUTING':
        inIface = incoming ? (s.arrivedOn ?? '') : '';
        outIface = s.routedOut;
        break;
      default:
        return assertNever(hook, 'hook');
    }
    const route = s.route;
    const context: NftEvalContext = {
      inIface,
      ...(outIface !== undefined ? { outIface } : {}),
      fibDaddrType: (p) => this.addressType(p.dst),
      masqueradeAddress: (p, out) => {
        const routeSource = route?.kind === 'unicast' || route?.kind === 'local' ? route.source : undefined;
        return routeSource ?? this.interfaceAddress(out, p.src.family);
      },
      natInitialized: { source: s.natInitSource, destination: s.natInitDestination },
      maxBranches: Math.max(1, this.maxBranches - this.branches + 1),
    };
    const outcomes = evaluateNftChains(source, stage.chains, nftHookOf(hook), s.packet, context);
    const weight = s.weight;
    const follow = (o: NftOutcome, b: WalkState): RunResult | undefined => {
      this.applyNft(b, hook, o, weight);
      switch (o.verdict) {
        case 'ACCEPT':
          return undefined;
        case 'DROP':
          return this.done(b, 'DROP', o.reason);
        case 'REJECT':
          return this.done(b, 'REJECT', o.reason, undefined, o.rejectWith ?? 'icmp-port-unreachable');
        case 'INCONCLUSIVE': {
          if (o.warnings.length === 0) b.warnings.push({ code: 'nft-inconclusive', message: o.reason, source });
          const r = this.done(b, 'INCONCLUSIVE', o.reason);
          return r.kind === 'done' && o.candidate !== undefined ? { kind: 'done', outcome: { ...r.outcome, candidate: o.candidate } } : r;
        }
        default:
          return assertNever(o.verdict, 'nft verdict');
      }
    };
    if (outcomes.length === 1) return follow(outcomes[0] as NftOutcome, s);
    const branches: WalkState[] = [];
    const ended: Outcome[] = [];
    for (const o of outcomes) {
      const b = s.clone();
      const r = follow(o, b);
      if (r === undefined) branches.push(b);
      else if (r.kind === 'done') ended.push(r.outcome);
    }
    return { kind: 'random', branches, ended };
  }

  /** Carries an nftables outcome into the walk: packet, marks, NAT, trace, warnings, probability. */
  private applyNft(b: WalkState, hook: HookName, o: NftOutcome, weight: number): void {
    b.setPacket(o.packet);
    for (const step of o.trace) b.trace.push({ kind: 'nft', hook, step });
    for (const w of o.warnings) b.warnings.push(w);
    for (const n of o.natApplied) {
      const destination = n.kind === 'dnat';
      if (destination) b.natInitDestination = true;
      else b.natInitSource = true;
      const changed = n.after === undefined || n.after.address.value !== n.before.address.value || n.after.port !== n.before.port;
      if (changed) {
        if (destination) b.dnat = true;
        else b.snat = true;
      }
      b.nat.push({
        kind: n.kind,
        hook,
        chain: `${n.family} ${n.table} ${n.chain}`,
        line: n.handle ?? 0,
        ruleText: n.ruleText,
        before: n.before,
        after: n.after,
        ...(n.outIface !== undefined ? { outIface: n.outIface } : {}),
        ...(n.note !== undefined ? { note: n.note } : {}),
      });
    }
    b.weight = weight * o.probability;
  }

  /** `fib daddr type`: the type the local table gives the address (inet_addr_type). */
  private addressType(a: IpAddress): string | undefined {
    if (a.family !== 4) return undefined;
    const v = Number(a.value);
    if (v >>> 28 === 0xe) return 'multicast';
    if (v === 0 || v === 0xffffffff || this.ctx.broadcast4.has(v)) return 'broadcast';
    return isLocalAddress(this.ctx, a) ? 'local' : 'unicast';
  }

  private routeInput(s: WalkState): RunResult | undefined {
    const forced = this.ctx.options.outIface;
    let decision: NetfilterRouteDecision;
    let note: string | undefined;
    const route = this.ctx.host.route;
    if (route !== undefined) {
      decision = route({ packet: s.packet, inIface: s.arrivedOn, stage: 'input' });
    } else if (isLocalAddress(this.ctx, s.packet.dst)) {
      decision = { kind: 'local' };
      note = 'no routing given: the destination is a local address';
    } else {
      decision = { kind: 'unicast', outIface: forced ?? '' };
      const how = forced === undefined ? ' out of an unknown interface' : '';
      note = `no routing given: the destination is not a local address, so the packet is forwarded${how}`;
    }
    s.route = decision;
    switch (decision.kind) {
      case 'local':
        s.trace.push({ kind: 'route', stage: 'input', decision, ...(note ? { note } : {}) });
        s.stages = this.paths.localIn;
        s.stageIndex = 0;
        return undefined;
      case 'unicast': {
        const out = forced ?? (decision.outIface === '' ? undefined : decision.outIface);
        s.trace.push({ kind: 'route', stage: 'input', decision, ...(note ? { note } : {}) });
        s.routedOut = out;
        s.stages = this.paths.forward;
        s.stageIndex = 0;
        return undefined;
      }
      case 'unreachable':
      case 'unknown':
        s.trace.push({ kind: 'route', stage: 'input', decision });
        return this.routeFailure(s, decision);
      default:
        return assertNever(decision, 'route decision');
    }
  }

  private routeOutput(s: WalkState, stage: 'output' | 'reroute'): RunResult | undefined {
    const forced = this.ctx.options.outIface;
    const route = this.ctx.host.route;
    let decision: NetfilterRouteDecision;
    let note: string | undefined;
    if (route !== undefined) {
      decision = route({ packet: s.packet, inIface: undefined, stage });
    } else if (isLocalAddress(this.ctx, s.packet.dst)) {
      decision = { kind: 'local' };
      note = 'no routing given: the destination is a local address';
    } else {
      decision = { kind: 'unicast', outIface: forced ?? '' };
      note = `no routing given${forced === undefined ? ': the output interface is unknown' : ''}`;
    }
    s.route = decision;
    s.routedKey = routedKey(s.packet);
    s.trace.push({ kind: 'route', stage, decision, ...(note ? { note } : {}) });
    switch (decision.kind) {
      case 'local':
        s.routedOut = forced ?? 'lo';
        break;
      case 'unicast':
        s.routedOut = forced ?? (decision.outIface === '' ? undefined : decision.outIface);
        break;
      case 'unreachable':
        // A failed re-route inside LOCAL_OUT (ip_route_me_harder) frees the packet: no error
        // reaches the socket and no ICMP is sent, so it is a drop whatever the route type.
        return this.routeFailure(s, stage === 'reroute' ? { ...decision, reject: false } : decision);
      case 'unknown':
        return this.routeFailure(s, decision);
      default:
        return assertNever(decision, 'route decision');
    }
    // The hook's devices are fixed at its entry (nf_hook_state): a re-route inside LOCAL_OUT
    // leaves `-o` of its remaining tables on the socket's route's device.
    if (stage === 'output') s.outputHookOut = s.routedOut;
    if (s.hook === 'POSTROUTING') s.outIface = s.routedOut;
    return undefined;
  }

  private routeFailure(s: WalkState, decision: NetfilterRouteDecision & { kind: 'unreachable' | 'unknown' }): RunResult {
    if (decision.kind === 'unknown') {
      return this.inconclusive(s, `routing: ${decision.reason}`, {
        code: 'iptables-route-unknown',
        message: `the routing decision is unknown: ${decision.reason}`,
        source: this.source,
      });
    }
    return this.done(s, decision.reject ? 'REJECT' : 'DROP', `routing: ${decision.reason}`);
  }

  /** Walks the chain stack; undefined when the table's chain ends with ACCEPT. */
  private runChain(s: WalkState): RunResult | undefined {
    const frames = s.frames;
    for (;;) {
      const frame = frames[frames.length - 1];
      if (frame === undefined) return undefined;
      const rules = frame.chain.rules ?? chainRules(frame.chain);
      if (frame.index >= rules.length) {
        frames.pop();
        if (frames.length === 0) return this.policy(s);
        continue;
      }
      const cr = rules[frame.index] as CompiledRule;
      if (++s.steps > MAX_STEPS) return this.loop(s, cr);
      const m = this.matchRule(s, cr);
      if (m === NO) {
        frame.index++;
        s.assumed = 0;
        s.note = undefined;
        continue;
      }
      if (m !== YES) return m;
      frame.index++;
      const note = s.note;
      s.assumed = 0;
      s.note = undefined;
      s.trace.push(this.ruleStep(s, cr, true, note));
      const r = this.fire(s, cr);
      if (r !== undefined) return r === ACCEPTED ? undefined : r;
    }
  }

  /** Whether the rule's matches hold: YES, NO, or a fork / an Inconclusive end. */
  private matchRule(s: WalkState, cr: CompiledRule): typeof YES | typeof NO | RunResult {
    const p = s.packet;
    if (cr.src !== undefined && !addressMatches(cr.src, p.src, s.src4)) return NO;
    if (cr.dst !== undefined && !addressMatches(cr.dst, p.dst, s.dst4)) return NO;
    if (cr.protocol >= 0 && (cr.protocol === 0 || cr.protocol === s.protocol) === cr.protocolNegated) return NO;
    // The packet is never a second or later fragment: `-f` never holds, `! -f` always does.
    if (cr.fragment === 1) return NO;
    if (cr.inIface !== undefined && !interfaceMatches(cr.inIface, s.inIface)) return NO;
    let outUnknown = false;
    if (cr.outIface !== undefined) {
      if (s.outIface === undefined) outUnknown = true;
      else if (!interfaceMatches(cr.outIface, s.outIface)) return NO;
    }
    let open: Match | undefined;
    let openKind = 0;
    let openReason = '';
    let openProbability = 0;
    let openFact: Match | string = '';
    let openFactNegated = false;
    let randomSeen = 0;
    const matches = cr.matches;
    for (let i = 0; i < matches.length; i++) {
      const m = matches[i] as Match;
      let r = evaluateMatch(m, s);
      if (r === UNDECIDED) {
        // A fact this branch already assumed decides it; otherwise the rule may branch on it.
        const fact = s.factKey === '' ? m : `${s.factKey}|${tupleKey(s.packet)}`;
        const assumed = s.assumptions?.get(fact);
        if (assumed !== undefined) r = assumed !== s.factNegated ? YES : NO;
        else {
          if (open === undefined) {
            open = m;
            openKind = UNDECIDED;
            openReason = s.reason;
            openFact = fact;
            openFactNegated = s.factNegated;
          }
          continue;
        }
      }
      if (r === YES) continue;
      if (r === NO) return NO;
      if (++randomSeen <= s.assumed) continue; // this branch took this statistic as matching
      if (open === undefined) {
        open = m;
        openKind = RANDOM;
        openProbability = s.probability;
      }
    }
    if (!outUnknown && open === undefined) return YES;
    if (cr.effectFree) {
      // Matching or not, the rule changes nothing: no need to know.
      const why = outUnknown ? 'output interface unknown' : openKind === RANDOM ? 'statistic' : openReason;
      s.trace.push(this.ruleStep(s, cr, false, `not evaluated (${why}); its target changes nothing`));
      return NO;
    }
    if (outUnknown) {
      return this.inconclusive(s, `${this.where(s, cr)} looks at the output interface, which is unknown`, {
        code: 'iptables-out-interface-unknown',
        message: `${this.where(s, cr)}: "${cr.rule.text}" matches on the output interface, which is unknown (no route, no forced interface)`,
        source: `${this.source}:${cr.rule.line}`,
      });
    }
    if (openKind === RANDOM) return this.forkRandom(s, cr, openProbability);
    return this.forkUndecided(s, cr, open as Match, openReason, openFact, openFactNegated);
  }

  private forkRandom(s: WalkState, cr: CompiledRule, p: number): RunResult {
    const yes = s.clone();
    yes.assumed = s.assumed + 1;
    yes.weight = s.weight * p;
    yes.note = joinNotes(s.note, `statistic: taken with probability ${formatProbability(p)}`);
    const no = s;
    no.trace.push(this.ruleStep(no, cr, false, joinNotes(s.note, `statistic: not taken (probability ${formatProbability(1 - p)})`)));
    no.weight = s.weight * (1 - p);
    this.skipRule(no);
    return { kind: 'random', branches: [yes, no] };
  }

  private forkUndecided(s: WalkState, cr: CompiledRule, m: Match, reason: string, fact: Match | string, factNegated: boolean): RunResult {
    const unknown = m.kind === 'unknown';
    const warning: Warning = {
      code: unknown ? 'iptables-unknown-match' : 'iptables-undecidable-match',
      message: `${this.where(s, cr)}: cannot tell whether "${cr.rule.text}" matches: ${reason}`,
      source: `${this.source}:${cr.rule.line}`,
    };
    const yes = s.clone();
    (yes.assumptions ??= new Map()).set(fact, !factNegated);
    yes.note = joinNotes(s.note, `assumed to match: ${reason}`);
    const no = s;
    no.trace.push(this.ruleStep(no, cr, false, joinNotes(s.note, `assumed not to match: ${reason}`)));
    (no.assumptions = no.assumptions === undefined ? new Map() : no.assumptions).set(fact, factNegated);
    this.skipRule(no);
    return { kind: 'undecided', yes, no, warning };
  }

  private skipRule(s: WalkState): void {
    s.top().index++;
    s.assumed = 0;
    s.note = undefined;
  }

  /** Applies the target of a matched rule; ACCEPTED when the table's chain ends, undefined to go on. */
  private fire(s: WalkState, cr: CompiledRule): RunResult | typeof ACCEPTED | undefined {
    const t = cr.target;
    const frames = s.frames;
    switch (t.kind) {
      case 'accept':
        frames.length = 0;
        return ACCEPTED;
      case 'drop':
        return this.done(s, 'DROP', `DROP by ${this.where(s, cr)}`);
      case 'reject':
        return this.done(s, 'REJECT', `REJECT (${t.rejectWith}) by ${this.where(s, cr)}`, undefined, t.rejectWith);
      case 'return':
        frames.pop();
        return frames.length === 0 ? (this.policy(s) ?? ACCEPTED) : undefined;
      case 'jump':
      case 'goto': {
        const to = cr.jumpTo;
        if (to === undefined) return this.unknownTarget(s, cr, `no chain ${t.chain}`);
        if (t.kind === 'jump') {
          if (frames.length >= MAX_DEPTH) return this.loop(s, cr);
          frames.push({ chain: to, index: 0 });
        } else {
          frames[frames.length - 1] = { chain: to, index: 0 };
        }
        return undefined;
      }
      case 'dnat':
      case 'snat':
      case 'masquerade':
      case 'redirect':
        frames.length = 0; // a NAT target ends the nat chain like ACCEPT
        return this.nat(s, cr, t) ?? ACCEPTED;
      case 'mark':
        s.setPacket({ ...s.packet, mark: applyMark(s.packet.mark, t.value, t.mask) });
        return undefined;
      case 'connmark': {
        const state = s.packet.ctState;
        if (state === 'UNTRACKED' || state === 'INVALID') return undefined; // no conntrack entry to mark
        const marks = applyConnmark(t, s.packet.mark, s.packet.connmark);
        s.setPacket({ ...s.packet, ...marks });
        return undefined;
      }
      case 'ct':
        if (t.notrack) s.notrack = true;
        return undefined;
      case 'notrack':
        s.notrack = true;
        return undefined;
      case 'dscp':
        s.setPacket({ ...s.packet, tos: applyDscp(s.packet.tos, t.value) });
        return undefined;
      case 'tos':
        s.setPacket({ ...s.packet, tos: applyTos(s.packet.tos, t.value, t.mask) });
        return undefined;
      case 'tproxy':
        return this.tproxy(s, cr, t);
      case 'none':
      case 'log':
      case 'nflog':
      case 'trace':
      case 'checksum':
      case 'passthrough':
        return undefined;
      case 'unknown':
        return this.unknownTarget(s, cr, t.reason);
      default:
        return assertNever(t, 'target');
    }
  }

  private tproxy(s: WalkState, cr: CompiledRule, t: Target & { kind: 'tproxy' }): RunResult | typeof ACCEPTED {
    const found = this.ctx.host.socketLookup?.({
      packet: s.packet,
      transparent: true,
      nowildcard: false,
      redirectTo: { address: t.address, port: t.port },
    });
    if (found === undefined) {
      return this.inconclusive(s, `${this.where(s, cr)}: TPROXY needs the local sockets`, {
        code: 'iptables-undecidable-target',
        message: `${this.where(s, cr)}: "${cr.rule.text}" diverts to a local socket, and the sockets are unknown`,
        source: `${this.source}:${cr.rule.line}`,
      });
    }
    if (!found) return this.done(s, 'DROP', `TPROXY by ${this.where(s, cr)} found no transparent socket on port ${t.port}`);
    s.setPacket({ ...s.packet, mark: applyMark(s.packet.mark, t.markValue, t.markMask) });
    s.frames.length = 0;
    return ACCEPTED;
  }

  /** DNAT/SNAT/MASQUERADE/REDIRECT; undefined when applied in place, a fork for several choices. */
  private nat(s: WalkState, cr: CompiledRule, t: NatTarget): RunResult | undefined {
    const p = s.packet;
    let choices: NatChoice[];
    let kind: NatApplied['kind'];
    let manip: 'source' | 'destination';
    let outIface: string | undefined;
    switch (t.kind) {
      case 'dnat':
        kind = 'dnat';
        manip = 'destination';
        choices = natChoices(t.ranges, p.dport, 'destination', t.random);
        break;
      case 'snat':
        kind = 'snat';
        manip = 'source';
        choices = natChoices(t.ranges, p.sport, 'source', t.random || t.randomFully);
        break;
      case 'masquerade': {
        kind = 'masquerade';
        manip = 'source';
        outIface = s.routedOut;
        const routeSource = s.route?.kind === 'unicast' || s.route?.kind === 'local' ? s.route.source : undefined;
        const address = routeSource ?? this.interfaceAddress(outIface, p.src.family);
        const port = natPort(t.ports && { minPort: t.ports.min, maxPort: t.ports.max }, p.sport, 'source', t.random || t.randomFully);
        const notes = [address === undefined ? `masquerade on ${outIface ?? 'an unknown interface'}: its address is unknown` : undefined, port.note];
        const note = notes.filter((n) => n !== undefined).join('; ');
        choices = [{ address, port: port.port, probability: 1, ...(note ? { note } : {}) }];
        break;
      }
      case 'redirect': {
        kind = 'redirect';
        manip = 'destination';
        // nf_nat_redirect: the primary address of the input device, or loopback for local packets.
        const address =
          s.hook === 'OUTPUT' ? loopback(p.dst.family) : this.interfaceAddress(s.arrivedOn, p.dst.family);
        if (address === undefined) {
          return this.inconclusive(s, `${this.where(s, cr)}: REDIRECT to an unknown address`, {
            code: 'iptables-nat-unresolved',
            message: `${this.where(s, cr)}: "${cr.rule.text}" redirects to the address of ${s.arrivedOn ?? 'the input interface'}, which is unknown`,
            source: `${this.source}:${cr.rule.line}`,
          });
        }
        const port = natPort(t.ports && { minPort: t.ports.min, maxPort: t.ports.max }, p.dport, 'destination', t.random);
        choices = [{ address, port: port.port, probability: 1, ...(port.note ? { note: port.note } : {}) }];
        break;
      }
      default:
        return assertNever(t, 'NAT target');
    }
    const apply = (b: WalkState, c: NatChoice): void => {
      const before = manip === 'destination' ? { address: b.packet.dst, port: b.packet.dport } : { address: b.packet.src, port: b.packet.sport };
      const packet = manip === 'destination' ? rewriteDestination(b.packet, c.address, c.port) : rewriteSource(b.packet, c.address, c.port);
      b.setPacket(packet);
      let after: NatApplied['after'];
      if (c.address === undefined && kind === 'masquerade') after = undefined;
      else after = manip === 'destination' ? { address: packet.dst, port: packet.dport } : { address: packet.src, port: packet.sport };
      if (manip === 'destination') b.natInitDestination = true;
      else b.natInitSource = true;
      const changed = after === undefined || after.address.value !== before.address.value || after.port !== before.port;
      if (changed) {
        if (manip === 'destination') b.dnat = true;
        else b.snat = true;
      }
      b.nat.push({
        kind,
        hook: b.hook,
        chain: cr.rule.chain,
        line: cr.rule.line,
        ruleText: cr.rule.text,
        before,
        after,
        ...(outIface !== undefined ? { outIface } : {}),
        ...(c.note !== undefined ? { note: c.note } : {}),
      });
    };
    if (choices.length === 1) {
      apply(s, choices[0] as NatChoice);
      return undefined;
    }
    const branches = choices.map((c) => {
      const b = s.clone();
      apply(b, c);
      b.weight = s.weight * c.probability;
      return b;
    });
    return { kind: 'random', branches };
  }

  private interfaceAddress(iface: string | undefined, family: IpAddress['family']): IpAddress | undefined {
    if (iface === undefined) return undefined;
    if (iface === 'lo') return loopback(family);
    return this.ctx.host.interfaceAddresses?.get(iface)?.find((a) => a.family === family);
  }

  /** The built-in chain's policy; undefined when it ACCEPTs (the table is done). */
  private policy(s: WalkState): RunResult | undefined {
    const builtin = s.builtin;
    s.frames.length = 0;
    if (builtin === undefined) return undefined;
    const chain = builtin.chain;
    const policy = chain.policy ?? 'ACCEPT';
    s.trace.push({ kind: 'policy', hook: s.hook, table: s.table, chain: chain.name, line: chain.line, policy });
    if (policy === 'ACCEPT') return undefined;
    return this.done(s, 'DROP', `policy DROP of ${s.table} ${chain.name}`);
  }

  private unknownTarget(s: WalkState, cr: CompiledRule, reason: string): RunResult {
    return this.inconclusive(s, `${this.where(s, cr)}: unknown target`, {
      code: 'iptables-unknown-target',
      message: `${this.where(s, cr)}: the packet reaches "${cr.rule.text}", whose target is not modelled (${reason})`,
      source: `${this.source}:${cr.rule.line}`,
    });
  }

  private loop(s: WalkState, cr: CompiledRule): RunResult {
    return this.inconclusive(s, `${this.where(s, cr)}: the walk loops`, {
      code: 'iptables-loop',
      message: `${this.where(s, cr)}: the chains jump in a loop (iptables would refuse this rule set)`,
      source: `${this.source}:${cr.rule.line}`,
    });
  }

  private where(s: WalkState, cr: CompiledRule): string {
    return `${s.table} ${cr.rule.chain} rule at line ${cr.rule.line}`;
  }

  private ruleStep(s: WalkState, cr: CompiledRule, matched: boolean, note: string | undefined): Outcome['trace'][number] {
    return {
      kind: 'rule',
      hook: s.hook,
      table: s.table,
      chain: cr.rule.chain,
      line: cr.rule.line,
      ruleText: cr.rule.text,
      target: formatTarget(cr.target),
      matched,
      ...(note !== undefined ? { note } : {}),
    };
  }

  private inconclusive(s: WalkState, reason: string, warning: Warning): RunResult {
    s.warnings.push(warning);
    return this.done(s, 'INCONCLUSIVE', reason);
  }

  private done(s: WalkState, verdict: Verdict, reason: string, delivery?: Delivery, rejectWith?: string): RunResult {
    return { kind: 'done', outcome: buildOutcome(s, verdict, reason, delivery, rejectWith) };
  }
}

function buildOutcome(s: WalkState, verdict: Verdict, reason: string, delivery?: Delivery, rejectWith?: string): Outcome {
  const p = s.packet;
  return {
    verdict,
    reason,
    packet: p,
    ...(delivery !== undefined ? { delivery } : {}),
    ...(rejectWith !== undefined ? { rejectWith } : {}),
    natApplied: s.nat,
    marks: { mark: p.mark, connmark: p.connmark },
    trace: s.trace,
    warnings: s.warnings,
    probability: s.weight,
  };
}

const ACCEPTED = Symbol('accepted');

const DEFAULT_PATHS = buildPathStages();

function joinNotes(a: string | undefined, b: string): string {
  return a === undefined ? b : `${a}; ${b}`;
}

function loopback(family: IpAddress['family']): IpAddress {
  return family === 4 ? { family: 4, value: 0x7f000001n } : { family: 6, value: 1n };
}

/**
 * Walks `packet` through the netfilter hooks of the host whose rule set is `ruleset`, from where
 * `direction` says it enters to local delivery or the output device, and returns every distinct
 * outcome (several when the rule set branches at random or on something unknown).
 */
export function traceIptables(
  ruleset: Ruleset,
  packet: Packet,
  direction: PacketDirection,
  host: HostContext,
  options: TraceOptions = {},
): TraceResult {
  const ctx = buildContext(host, options, direction);
  const incoming = direction.kind === 'incoming';
  const nftables = host.nftables;
  const paths = nftables === undefined ? DEFAULT_PATHS : buildPathStages((hook) => nftHookChains(nftables, 'ip', hook));
  const state = new WalkState(ctx, packet, incoming ? paths.incoming : paths.outgoing);
  if (incoming) state.arrivedOn = direction.inIface;
  const ct = options.conntrack;
  const fresh = packet.ctState === 'NEW' || packet.ctState === 'RELATED';
  if (fresh) {
    state.original = ct?.original ?? { src: packet.src, dst: packet.dst, sport: packet.sport, dport: packet.dport };
    state.dnat = false;
    state.snat = false;
  } else {
    state.original = ct?.original;
    state.dnat = ct?.natted?.destination;
    state.snat = ct?.natted?.source;
  }
  state.natInitDestination = ct?.natInitialized?.destination ?? false;
  state.natInitSource = ct?.natInitialized?.source ?? false;

  if (ruleset.family !== undefined && ruleset.family !== packet.src.family) {
    const warning: Warning = {
      code: 'iptables-family-mismatch',
      message: `an IPv${packet.src.family} packet cannot be walked through the IPv${ruleset.family} rule set ${ruleset.source}`,
      source: ruleset.source,
    };
    state.warnings.push(warning);
    return { outcomes: [buildOutcome(state, 'INCONCLUSIVE', warning.message)], warnings: [warning], capped: false };
  }

  const maxBranches = Math.max(1, options.maxBranches ?? DEFAULT_MAX_BRANCHES);
  const walker = new Walker(compileRuleset(ruleset), ctx, maxBranches, paths);
  const outcomes = walker.explore(state);
  const warnings: Warning[] = [];
  if (walker.capped) {
    warnings.push({
      code: 'iptables-branching-capped',
      message: `the walk branched more than ${maxBranches} times (statistic, NAT ranges, unknown matches): outcomes may be incomplete`,
      source: ruleset.source,
    });
  }
  return { outcomes, warnings, capped: walker.capped };
}
