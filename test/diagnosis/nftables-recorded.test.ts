// Native nftables on a recorded node (golden dumps of real namespaces, no root needed): a base
// chain that drops or rejects the packet is named by the diagnosis as NftablesDrop, one that lets
// it through changes nothing.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { diagnose, type DiagnosisQuery, type NetnsDumps } from '../../src/diagnosis/index.js';
import { loadRecordedCluster } from '../support/recorded-cluster.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/mini-cluster', import.meta.url));
const query: DiagnosisQuery = { source: { kind: 'pod', namespace: 'default', name: 'pod1' }, destination: { kind: 'pod', namespace: 'default', name: 'pod2' }, port: 8080, protocol: 'TCP' };

/** node2 with one native table `ip fw` whose forward chain holds `statement` for pod2 (10.244.1.5). */
function withForwardRule(statement: object): (id: string, dumps: NetnsDumps) => NetnsDumps {
  const T = { family: 'ip', table: 'fw' };
  const nftables = {
    nftables: [
      { table: { family: 'ip', name: 'fw' } },
      { chain: { ...T, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
      { rule: { ...T, chain: 'forward', handle: 7, expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '10.244.1.5' } }, statement] } },
    ],
  };
  return (id, dumps) => (id === 'nodes/node2' ? { ...dumps, nftables: { text: JSON.stringify(nftables), source: 'nodes/node2/nft-ruleset.json' } } : dumps);
}

describe('native nftables on node2', () => {
  it.each<[string, object, string]>([
    ['a drop', { drop: null }, 'drops'],
    ['a reject', { reject: { type: 'tcp reset' } }, 'rejects'],
  ])('%s in its forward chain: Unreachable, NftablesDrop naming table, chain, handle and rule', (_name, statement, verb) => {
    const d = diagnose(loadRecordedCluster(FIXTURES, withForwardRule(statement)), query);
    expect(d.verdict).toBe('Unreachable');
    const fatal = d.suspicions.filter((s) => s.level === 'fatal');
    expect(fatal.map((s) => `${s.node} ${s.code}`)).toEqual(['node2 NftablesDrop']);
    // The rule as the dump gives it (`nft -j` carries no rule text: its expressions).
    expect(fatal[0]?.message).toMatch(new RegExp(`^nftables table ip fw chain forward \\(hook forward\\), handle 7 ${verb} the packet: .*"10\\.244\\.1\\.5"`));
  });

  it('an accept in its forward chain: Reachable, as without it', () => {
    const d = diagnose(loadRecordedCluster(FIXTURES, withForwardRule({ accept: null })), query);
    expect(d.verdict).toBe('Reachable');
  });
});
