// Outcomes of a walk compared and merged: two outcomes are the same when the packet meets the same
// fate (verdict, final packet, delivery, NAT), whatever rules led there.

import { formatIp } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import type { Outcome } from './trace-types.js';

/** What identifies an outcome's effect on the packet. */
export function outcomeKey(o: Outcome): string {
  const p = o.packet;
  const delivery = o.delivery === undefined ? '' : o.delivery.kind === 'local' ? 'local' : `out:${o.delivery.outIface ?? '?'}`;
  const nat = o.natApplied.map((n) => `${n.kind}>${n.after === undefined ? '?' : `${formatIp(n.after.address)}:${n.after.port}`}`).join(',');
  return [
    o.verdict,
    o.candidate ?? '',
    delivery,
    o.rejectWith ?? '',
    p.protocol,
    formatIp(p.src),
    p.sport,
    formatIp(p.dst),
    p.dport,
    p.icmpType ?? '',
    p.icmpCode ?? '',
    p.mark,
    p.connmark,
    p.ctState,
    p.tos,
    nat,
  ].join('|');
}

function warningKey(w: Warning): string {
  return `${w.code}|${w.source ?? ''}|${w.message}`;
}

export function mergeWarnings(a: readonly Warning[], b: readonly Warning[]): Warning[] {
  const seen = new Set(a.map(warningKey));
  const merged = a.slice();
  for (const w of b) {
    if (!seen.has(warningKey(w))) {
      seen.add(warningKey(w));
      merged.push(w);
    }
  }
  return merged;
}

/** Merges outcomes with the same key: the first one's trace, probabilities summed, warnings joined. */
export function dedupeOutcomes(outcomes: readonly Outcome[]): Outcome[] {
  if (outcomes.length < 2) return outcomes.slice();
  const byKey = new Map<string, Outcome>();
  for (const o of outcomes) {
    const key = outcomeKey(o);
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, o);
    else byKey.set(key, { ...seen, probability: seen.probability + o.probability, warnings: mergeWarnings(seen.warnings, o.warnings) });
  }
  return [...byKey.values()];
}

/** Whether two sets of outcomes give the packet the same fates (probabilities aside). */
export function sameOutcomes(a: readonly Outcome[], b: readonly Outcome[]): boolean {
  const ka = new Set(a.map(outcomeKey));
  const kb = new Set(b.map(outcomeKey));
  if (ka.size !== kb.size) return false;
  for (const k of ka) if (!kb.has(k)) return false;
  return true;
}

/** The outcome made Inconclusive by `warning`, keeping what it reached as its candidate. */
export function markInconclusive(o: Outcome, warning: Warning): Outcome {
  const candidate = o.verdict === 'INCONCLUSIVE' ? o.candidate : o.verdict;
  return {
    ...o,
    verdict: 'INCONCLUSIVE',
    ...(candidate !== undefined ? { candidate } : {}),
    warnings: mergeWarnings(o.warnings, [warning]),
  };
}
