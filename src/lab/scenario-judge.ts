// Compares what a NetworkDiagnosis ended with against a scenario's `expect`, and names netnodes as
// the scenario does (pod and node names; IP addresses for anything else). Pure.

import type { NetworkDiagnosisStatus, StatusPacketPath, SuspicionLevel } from '../api/v1alpha1/index.js';
import { codeMatches, type ExpectedSuspicion, type Scenario } from './scenario.js';

/** How the diagnosis ended, as read from its status. */
export interface DiagnosisOutcome {
  /** false: it ended Stalled/Failed instead of Completed. */
  readonly completed: boolean;
  readonly status: NetworkDiagnosisStatus;
}

export interface ResultSuspicion {
  readonly node: string;
  readonly level: SuspicionLevel;
  readonly code: string;
  readonly message: string;
}

/** One scenario's result: DESIGN §5's `--json` element. */
export interface ScenarioResult {
  readonly name: string;
  readonly file: string;
  readonly passed: boolean;
  readonly completed: boolean;
  readonly verdict?: string;
  readonly suspicions: readonly ResultSuspicion[];
  readonly path: readonly string[];
  /** What differs from `expect`, one line each; empty when passed. */
  readonly mismatches: readonly string[];
}

/** A netnode id as the scenario names it: `NAMESPACE/POD` of the scenario's namespace becomes POD. */
export function scenarioNodeName(id: string, namespace: string): string {
  const prefix = `${namespace}/`;
  return id.startsWith(prefix) ? id.slice(prefix.length) : id;
}

/**
 * The netnodes of the request, in order of first appearance along the request links. A service
 * fanning out to several endpoints gives a tree; its branches follow one another in link order.
 */
export function requestPath(path: StatusPacketPath | undefined): string[] {
  const order: string[] = [];
  const add = (id: string): void => {
    if (!order.includes(id)) order.push(id);
  };
  for (const link of path?.links ?? []) {
    if (link.direction === 'reply') continue;
    add(link.source);
    add(link.destination);
  }
  if (order.length === 0 && path?.nodes?.[0] !== undefined) order.push(path.nodes[0].id);
  return order;
}

function matches(expected: ExpectedSuspicion, actual: ResultSuspicion): boolean {
  return (
    (expected.node === undefined || expected.node === actual.node) &&
    (expected.level === undefined || expected.level === actual.level) &&
    (expected.code === undefined || codeMatches(expected.code, actual.code)) &&
    (expected.contains === undefined || actual.message.includes(expected.contains))
  );
}

function describeExpected(e: ExpectedSuspicion): string {
  const parts = [e.level, e.code, e.node !== undefined ? `on ${e.node}` : undefined, e.contains !== undefined ? `containing "${e.contains}"` : undefined];
  return parts.filter((p) => p !== undefined).join(' ');
}

function describeActual(s: ResultSuspicion): string {
  return `${s.level} ${s.code} on ${s.node}: ${s.message}`;
}

/** The result of SCENARIO whose diagnosis (in NAMESPACE) ended as OUTCOME. */
export function judgeScenario(scenario: Scenario, namespace: string, outcome: DiagnosisOutcome): ScenarioResult {
  const status = outcome.status;
  const suspicions: ResultSuspicion[] = (status.suspicions ?? []).map((s) => ({ node: scenarioNodeName(s.node, namespace), level: s.level, code: s.code, message: s.message }));
  const path = requestPath(status.packetPath).map((id) => scenarioNodeName(id, namespace));
  const expect = scenario.expect;
  const mismatches: string[] = [];

  const wantCompleted = expect.completed ?? true;
  if (outcome.completed !== wantCompleted) {
    const stalled = (status.conditions ?? []).find((c) => c.type === 'Stalled' && c.status === 'True');
    mismatches.push(
      wantCompleted
        ? `the diagnosis did not complete${stalled !== undefined ? `: ${stalled.reason}: ${stalled.message}` : ''}`
        : `the diagnosis completed (verdict ${status.verdict ?? 'none'}), expected it to end Stalled/Failed`,
    );
  }
  if (expect.verdict !== undefined && status.verdict !== expect.verdict) mismatches.push(`verdict ${status.verdict ?? 'none'}, expected ${expect.verdict}`);
  if (expect.path !== undefined && path.join(' ') !== expect.path.join(' ')) mismatches.push(`path [${path.join(', ')}], expected [${expect.path.join(', ')}]`);

  const matched = new Set<ResultSuspicion>();
  for (const wanted of expect.suspicions ?? []) {
    const found = suspicions.filter((s) => matches(wanted, s));
    if (found.length === 0) mismatches.push(`no suspicion ${describeExpected(wanted)}`);
    for (const s of found) matched.add(s);
  }
  // Unexpected: a fatal (or critical) suspicion not listed, when asked; any suspicion `absent` names.
  const unlisted: readonly string[] = expect.noOtherCritical === true ? ['fatal', 'critical'] : expect.noOtherFatal === true ? ['fatal'] : [];
  for (const s of suspicions) {
    const unwanted = (expect.absent ?? []).find((a) => matches(a, s));
    if (unwanted !== undefined) mismatches.push(`unexpected ${describeActual(s)} (absent: ${describeExpected(unwanted)})`);
    else if (unlisted.includes(s.level) && !matched.has(s)) mismatches.push(`unexpected ${describeActual(s)}`);
  }

  return {
    name: scenario.name,
    file: scenario.file,
    passed: mismatches.length === 0,
    completed: outcome.completed,
    ...(status.verdict !== undefined ? { verdict: status.verdict } : {}),
    suspicions,
    path,
    mismatches,
  };
}
