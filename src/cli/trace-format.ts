// How `netdiag trace` prints a result: a readable walk, rule by rule, like `iptables -j TRACE`
// but offline; or one JSON object for scripts.

import { formatIp, type HostTraceResult, type Outcome, type TraceStep, type Warning } from '../diagnosis/index.js';
import type { TraceRequest } from './trace-args.js';

/** The JSON contract of `netdiag trace --json`. */
export interface TraceJson {
  readonly verdict: HostTraceResult['verdict'];
  readonly destinations: readonly string[];
  readonly masquerade: boolean;
  readonly trace: readonly { hook: string; table: string; chain: string; line: number; rule: string; target: string }[];
  readonly outcomes: readonly {
    verdict: Outcome['verdict'];
    probability: number;
    reason: string;
    packet: { src: string; dst: string; sport: number; dport: number; mark: string };
    delivery?: string;
  }[];
  readonly warnings: readonly Warning[];
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function deliveryText(outcome: Outcome): string | undefined {
  const delivery = outcome.delivery;
  if (delivery === undefined) return undefined;
  return delivery.kind === 'local' ? 'local' : `out ${delivery.outIface ?? '(unknown interface)'}`;
}

export function traceJson(result: HostTraceResult): TraceJson {
  return {
    verdict: result.verdict,
    destinations: result.destinations,
    masquerade: result.masquerade,
    trace: result.hits.map((h) => ({ hook: h.hook, table: h.table, chain: h.chain, line: h.line, rule: h.rule, target: h.target })),
    outcomes: result.outcomes.map((o) => {
      const delivery = deliveryText(o);
      return {
        verdict: o.verdict,
        probability: o.probability,
        reason: o.reason,
        packet: { src: formatIp(o.packet.src), dst: formatIp(o.packet.dst), sport: o.packet.sport, dport: o.packet.dport, mark: hex(o.packet.mark) },
        ...(delivery !== undefined ? { delivery } : {}),
      };
    }),
    warnings: result.warnings,
  };
}

function stepLine(step: TraceStep): string | undefined {
  switch (step.kind) {
    case 'rule':
      if (!step.matched) return `  ${step.hook.padEnd(11)} ${step.table.padEnd(8)} line ${step.line}: not taken${step.note ? ` (${step.note})` : ''}: ${step.ruleText}`;
      return `  ${step.hook.padEnd(11)} ${step.table.padEnd(8)} line ${step.line}: ${step.ruleText}${step.note ? `   # ${step.note}` : ''}`;
    case 'policy':
      return `  ${step.hook.padEnd(11)} ${step.table.padEnd(8)} ${step.chain} policy ${step.policy}`;
    case 'route':
      return `  routing (${step.stage}): ${routeText(step.decision)}${step.note ? `   # ${step.note}` : ''}`;
    case 'skip':
      return undefined;
    case 'nft':
      return nftStepLine(step.step);
  }
}

function nftStepLine(step: Extract<TraceStep, { kind: 'nft' }>['step']): string | undefined {
  const where = `${step.hook.padEnd(11)} ${`${step.family} ${step.table}`.padEnd(8)} ${step.chain}`;
  switch (step.kind) {
    case 'rule':
      return `  ${where} handle ${step.handle ?? '?'}: ${step.ruleText}${step.note ? `   # ${step.note}` : ''}`;
    case 'policy':
      return `  ${where} policy ${step.policy}`;
    case 'skip':
      return undefined;
  }
}

function routeText(decision: Extract<TraceStep, { kind: 'route' }>['decision']): string {
  switch (decision.kind) {
    case 'local':
      return 'local delivery';
    case 'unicast':
      return `out ${decision.outIface === '' ? '(unknown interface)' : decision.outIface}${decision.gateway ? ` via ${formatIp(decision.gateway)}` : ''}`;
    case 'unreachable':
      return `${decision.reject ? 'unreachable' : 'dropped'}: ${decision.reason}`;
    case 'unknown':
      return `unknown: ${decision.reason}`;
  }
}

function packetText(request: TraceRequest): string {
  const ports = request.protocol === 'icmp' ? '' : `:${request.sport}`;
  const dport = request.protocol === 'icmp' ? ' (echo request)' : `:${request.dport}`;
  const where = request.iif !== undefined ? `in ${request.iif}` : 'locally generated';
  return `${request.protocol} ${request.src}${ports} -> ${request.dst}${dport}, ${where}, ${request.ctState}, mark ${hex(request.mark)}`;
}

export function formatTraceText(request: TraceRequest, result: HostTraceResult): string {
  const lines: string[] = [`packet: ${packetText(request)}`, ''];
  result.outcomes.forEach((outcome, i) => {
    const share = result.outcomes.length > 1 ? ` (${(outcome.probability * 100).toFixed(1)}% of such packets)` : '';
    lines.push(`path ${i + 1} of ${result.outcomes.length}${share}:`);
    for (const step of outcome.trace) {
      const line = stepLine(step);
      if (line !== undefined) lines.push(line);
    }
    const delivery = deliveryText(outcome);
    lines.push(`  => ${outcome.verdict}${delivery ? ` (${delivery})` : ''}: ${outcome.reason}`, '');
  });
  lines.push(`verdict: ${result.verdict}`);
  lines.push(`destinations: ${result.destinations.length > 0 ? result.destinations.join(', ') : '(not translated)'}`);
  lines.push(`masquerade: ${result.masquerade ? 'yes' : 'no'}`);
  for (const w of result.warnings) lines.push(`warning: ${w.source ? `${w.source}: ` : ''}${w.message}`);
  return `${lines.join('\n')}\n`;
}
