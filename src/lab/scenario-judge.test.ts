import { describe, expect, it } from '@jest/globals';
import type { NetworkDiagnosisStatus } from '../api/v1alpha1/index.js';
import { parseScenario } from './scenario.js';
import { judgeScenario, requestPath } from './scenario-judge.js';

function scenario(expectYaml: string): ReturnType<typeof parseScenario> {
  return parseScenario(
    `name: judged
network: flannel-vxlan
nodes:
  - name: node1
    pods: [{name: pod1}]
  - name: node2
    pods: [{name: pod2, listen: [{port: 80, protocol: TCP}]}]
diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP}
expect: ${expectYaml}
`,
    'j.yaml',
  );
}

const link = (source: string, destination: string, direction: 'request' | 'reply' = 'request') => ({ source, destination, type: 'veth', direction });

const UNREACHABLE: NetworkDiagnosisStatus = {
  verdict: 'Unreachable',
  suspicions: [
    { level: 'fatal', node: 'node1', code: 'LinkDown', message: 'cni0 is down' },
    { level: 'warning', node: 'ns-1/pod2', code: 'MTUMismatch', message: 'eth0 mtu 1400' },
  ],
  packetPath: { nodes: [{ id: 'ns-1/pod1', type: 'pod' }, { id: 'node1', type: 'node' }], links: [link('ns-1/pod1', 'node1')] },
};

describe('requestPath', () => {
  it('follows request links in order, a service fan-out branch after branch, ignoring the reply', () => {
    expect(requestPath({ links: [link('a', 'n1'), link('n1', 'b'), link('n1', 'c'), link('b', 'n1', 'reply')] })).toEqual(['a', 'n1', 'b', 'c']);
  });
  it('is the source alone when no link left it', () => {
    expect(requestPath({ nodes: [{ id: 'a', type: 'pod' }], links: [] })).toEqual(['a']);
  });
});

describe('judgeScenario', () => {
  it('passes when verdict, path and suspicions match, naming pods as the scenario does', () => {
    const s = scenario('{verdict: Unreachable, path: [pod1, node1], suspicions: [{node: node1, level: fatal, code: LinkDown, contains: cni0}], noOtherFatal: true}');
    const result = judgeScenario(s, 'ns-1', { completed: true, status: UNREACHABLE });
    expect(result).toMatchObject({ name: 'judged', passed: true, completed: true, verdict: 'Unreachable', path: ['pod1', 'node1'], mismatches: [] });
    expect(result.suspicions[1]).toEqual({ level: 'warning', node: 'pod2', code: 'MTUMismatch', message: 'eth0 mtu 1400' });
  });

  it('names every difference', () => {
    const s = scenario('{verdict: Reachable, path: [pod1, node1, node2, pod2], suspicions: [{code: RouteMissing}]}');
    expect(judgeScenario(s, 'ns-1', { completed: true, status: UNREACHABLE }).mismatches).toEqual([
      'verdict Unreachable, expected Reachable',
      'path [pod1, node1], expected [pod1, node1, node2, pod2]',
      'no suspicion RouteMissing',
    ]);
  });

  it('noOtherFatal: a fatal suspicion not expected is a mismatch', () => {
    const s = scenario('{noOtherFatal: true}');
    expect(judgeScenario(s, 'ns-1', { completed: true, status: UNREACHABLE }).mismatches).toEqual(['unexpected fatal LinkDown on node1: cni0 is down']);
  });

  it('noOtherCritical: a critical or fatal suspicion not expected is a mismatch; a warning is not', () => {
    const status: NetworkDiagnosisStatus = {
      ...UNREACHABLE,
      suspicions: [...(UNREACHABLE.suspicions ?? []), { level: 'critical', node: 'ns-1/pod2', code: 'CniAddFailed', message: 'ADD failed' }],
    };
    expect(judgeScenario(scenario('{noOtherCritical: true, suspicions: [{code: LinkDown}]}'), 'ns-1', { completed: true, status }).mismatches).toEqual([
      'unexpected critical CniAddFailed on pod2: ADD failed',
    ]);
    expect(judgeScenario(scenario('{noOtherCritical: true, suspicions: [{code: "Cni*"}, {code: LinkDown}]}'), 'ns-1', { completed: true, status }).passed).toBe(true);
  });

  it('absent: any suspicion it matches is a mismatch, a code prefix ending in * included', () => {
    const status: NetworkDiagnosisStatus = {
      verdict: 'Reachable',
      suspicions: [
        { level: 'warning', node: 'node2', code: 'CniChainMismatch', message: 'chain differs' },
        { level: 'info', node: 'node1', code: 'UnsupportedConfig', message: 'generic provider' },
      ],
    };
    expect(judgeScenario(scenario('{verdict: Reachable, absent: [{code: "Cni*"}]}'), 'ns-1', { completed: true, status }).mismatches).toEqual([
      'unexpected warning CniChainMismatch on node2: chain differs (absent: Cni*)',
    ]);
    expect(judgeScenario(scenario('{verdict: Reachable, absent: [{code: "Cni*", node: node1}, {code: LinkDown}]}'), 'ns-1', { completed: true, status }).passed).toBe(true);
  });

  it('completed: false expects a Stalled diagnosis; a stalled one is reported with its reason otherwise', () => {
    const stalled: NetworkDiagnosisStatus = { conditions: [{ type: 'Stalled', status: 'True', reason: 'ObjectNotFound', message: 'pod ns-1/pod9 not found', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    expect(judgeScenario(scenario('{completed: false}'), 'ns-1', { completed: false, status: stalled }).passed).toBe(true);
    expect(judgeScenario(scenario('{verdict: Reachable}'), 'ns-1', { completed: false, status: stalled }).mismatches).toEqual([
      'the diagnosis did not complete: ObjectNotFound: pod ns-1/pod9 not found',
      'verdict none, expected Reachable',
    ]);
    expect(judgeScenario(scenario('{completed: false}'), 'ns-1', { completed: true, status: UNREACHABLE }).mismatches).toEqual(['the diagnosis completed (verdict Unreachable), expected it to end Stalled/Failed']);
  });
});
