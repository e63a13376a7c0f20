import { describe, expect, it } from '@jest/globals';
import { NftParseError, type NftExpr, type NftStatement } from './model.js';
import { parseExpr, parseNftPriority, parseNftRuleset, parseStatement } from './parse.js';

// Shaped like `nft -j list ruleset` of nftables 1.0 for a kube-proxy-like table.
const DUMP = {
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'kube-proxy', handle: 3 } },
    {
      map: {
        family: 'ip',
        name: 'service-ips',
        table: 'kube-proxy',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 17,
        map: 'verdict',
        elem: [
          [{ concat: ['10.96.0.11', 'udp', 53] }, { goto: { target: 'service-BBB' } }],
          [{ elem: { val: { concat: ['10.96.0.10', 'tcp', 80] }, comment: 'ns/svc:http' } }, { goto: { target: 'service-AAA' } }],
        ],
      },
    },
    {
      set: {
        family: 'ip',
        name: 'ranges',
        table: 'kube-proxy',
        type: 'ipv4_addr',
        handle: 19,
        flags: ['interval'],
        elem: [{ prefix: { addr: '10.1.0.0', len: 16 } }, { range: ['10.2.0.1', '10.2.0.9'] }],
      },
    },
    { map: { family: 'ip', name: 'pm', table: 'kube-proxy', type: 'ipv4_addr', handle: 21, map: 'ipv4_addr', elem: [['1.2.3.4', '5.6.7.8']] } },
    { chain: { family: 'ip', table: 'kube-proxy', name: 'nat-prerouting', handle: 4, type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
    { chain: { family: 'ip', table: 'kube-proxy', name: 'filter-prerouting', handle: 7, type: 'filter', hook: 'prerouting', prio: 'dstnat - 10', policy: 'drop' } },
    { chain: { family: 'ip', table: 'kube-proxy', name: 'services', handle: 10 } },
    { rule: { family: 'ip', table: 'kube-proxy', chain: 'nat-prerouting', handle: 27, expr: [{ jump: { target: 'services' } }] } },
    {
      rule: {
        family: 'ip',
        table: 'kube-proxy',
        chain: 'services',
        handle: 46,
        expr: [
          {
            vmap: {
              key: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }, { meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }] },
              data: '@service-ips',
            },
          },
        ],
      },
    },
    { rule: { family: 'ip', table: 'kube-proxy', chain: 'services', handle: 47, comment: 'odd', expr: [{ limit: { rate: 10, per: 'second' } }, { counter: { packets: 0, bytes: 0 } }] } },
    { flowtable: { family: 'ip', name: 'ft', table: 'kube-proxy' } },
  ],
};

describe('parseNftRuleset', () => {
  const ruleset = parseNftRuleset(DUMP, 'node1:nft');
  const table = ruleset.tables[0];

  it('reads tables, base chains with numeric priorities, policies and regular chains', () => {
    expect(ruleset.tables.map((t) => `${t.family} ${t.name}`)).toEqual(['ip kube-proxy']);
    expect(table?.chains.get('nat-prerouting')?.base).toEqual({ type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' });
    expect(table?.chains.get('filter-prerouting')?.base).toEqual({ type: 'filter', hook: 'prerouting', priority: -110, policy: 'drop' });
    expect(table?.chains.get('services')?.base).toBeUndefined();
    expect(table?.chains.get('services')?.rules.map((r) => [r.handle, r.index])).toEqual([
      [46, 9],
      [47, 10],
    ]);
  });

  it('reads maps with concatenated keys, element comments and verdict data', () => {
    const map = table?.sets.get('service-ips');
    expect(map?.kind).toBe('map');
    expect(map?.keyType).toEqual(['ipv4_addr', 'inet_proto', 'inet_service']);
    expect(map?.dataType).toBe('verdict');
    expect(map?.elements[1]).toEqual({
      key: { kind: 'concat', items: [{ kind: 'literal', value: '10.96.0.10' }, { kind: 'literal', value: 'tcp' }, { kind: 'literal', value: 80 }] },
      comment: 'ns/svc:http',
      data: { kind: 'verdict', verdict: { kind: 'goto', target: 'service-AAA' } },
    });
  });

  it('reads interval sets (prefixes and ranges) and address maps', () => {
    expect(table?.sets.get('ranges')?.flags).toEqual(['interval']);
    expect(table?.sets.get('ranges')?.elements.map((e) => e.key.kind)).toEqual(['prefix', 'range']);
    expect(table?.sets.get('pm')?.elements[0]).toEqual({ key: { kind: 'literal', value: '1.2.3.4' }, data: { kind: 'literal', value: '5.6.7.8' } });
  });

  it('keeps statements it does not know as unknown, with their JSON, and warns about unknown objects', () => {
    const rule = table?.chains.get('services')?.rules[1];
    expect(rule?.statements[0]).toEqual({ kind: 'unknown', json: '{"limit":{"rate":10,"per":"second"}}' });
    expect(rule?.statements[1]).toEqual({ kind: 'counter' });
    expect(rule?.comment).toBe('odd');
    expect(ruleset.warnings).toEqual([{ code: 'nft-unknown-object', message: 'nft object "flowtable" is not modelled', source: 'node1:nft: nftables[11]' }]);
  });

  it.each<[string, unknown, string]>([
    ['no nftables array', { foo: [] }, 'node1:nft: not an nft JSON document'],
    ['a chain of an undeclared table', { nftables: [{ chain: { family: 'ip', table: 'x', name: 'c' } }] }, 'node1:nft: nftables[0]: table ip x is not declared'],
    [
      'a rule of an undeclared chain',
      { nftables: [{ table: { family: 'ip', name: 't' } }, { rule: { family: 'ip', table: 't', chain: 'c', expr: [] } }] },
      'node1:nft: nftables[1]: rule of undeclared chain c',
    ],
    [
      'an unreadable priority',
      { nftables: [{ table: { family: 'ip', name: 't' } }, { chain: { family: 'ip', table: 't', name: 'c', hook: 'input', prio: 'bogus' } }] },
      'node1:nft: nftables[1]: chain c: unreadable priority "bogus"',
    ],
    ['an object with two keys', { nftables: [{ table: {}, chain: {} }] }, 'node1:nft: nftables[0]: expected one key'],
  ])('rejects %s, naming the source and index', (_name, json, message) => {
    expect(() => parseNftRuleset(json, 'node1:nft')).toThrow(NftParseError);
    expect(() => parseNftRuleset(json, 'node1:nft')).toThrow(message);
  });
});

describe('parseNftPriority', () => {
  it.each<[unknown, number | undefined]>([
    [-100, -100],
    ['raw', -300],
    ['mangle', -150],
    ['dstnat', -100],
    ['filter', 0],
    ['security', 50],
    ['srcnat', 100],
    ['dstnat - 10', -110],
    ['srcnat + 5', 105],
    ['filter-1', -1],
    ['7', 7],
    ['out', undefined],
    [1.5, undefined],
  ])('%j is %s', (input, expected) => {
    expect(parseNftPriority(input)).toBe(expected);
  });
});

describe('parseStatement / parseExpr', () => {
  it.each<[string, unknown, NftStatement]>([
    ['ct state in a list', { match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, {
      kind: 'match',
      op: 'in',
      left: { kind: 'ct', key: 'state' },
      right: { kind: 'list', items: [{ kind: 'literal', value: 'established' }, { kind: 'literal', value: 'related' }] },
    }],
    ['mark set mark or', { mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, 16384] } } }, {
      kind: 'mangle',
      key: { kind: 'meta', key: 'mark' },
      value: { kind: 'binop', op: '|', left: { kind: 'meta', key: 'mark' }, right: { kind: 'literal', value: 16384 } },
    }],
    ['dnat to address and port', { dnat: { addr: '10.244.0.3', port: 8080 } }, {
      kind: 'nat',
      type: 'dnat',
      addr: { kind: 'literal', value: '10.244.0.3' },
      port: { kind: 'literal', value: 8080 },
      flags: [],
    }],
    ['masquerade fully-random', { masquerade: { flags: 'fully-random' } }, { kind: 'nat', type: 'masquerade', flags: ['fully-random'] }],
    ['bare masquerade', { masquerade: null }, { kind: 'nat', type: 'masquerade', flags: [] }],
    ['reject with tcp reset', { reject: { type: 'tcp reset' } }, { kind: 'reject', type: 'tcp reset' }],
    ['bare reject', { reject: null }, { kind: 'reject' }],
    ['return', { return: null }, { kind: 'verdict', verdict: { kind: 'return' } }],
    ['goto', { goto: { target: 'x' } }, { kind: 'verdict', verdict: { kind: 'goto', target: 'x' } }],
    ['a match with an unknown operator', { match: { op: 'like', left: 1, right: 2 } }, { kind: 'unknown', json: '{"match":{"op":"like","left":1,"right":2}}' }],
    ['queue', { queue: { num: 1 } }, { kind: 'unknown', json: '{"queue":{"num":1}}' }],
  ])('%s', (_name, json, expected) => {
    expect(parseStatement(json)).toEqual(expected);
  });

  it.each<[string, unknown, NftExpr]>([
    ['numgen', { numgen: { mode: 'random', mod: 2, offset: 0 } }, { kind: 'numgen', mode: 'random', mod: 2, offset: 0 }],
    ['fib', { fib: { result: 'type', flags: ['daddr'] } }, { kind: 'fib', result: 'type', flags: ['daddr'] }],
    ['set reference', '@cluster-ips', { kind: 'setref', name: 'cluster-ips' }],
    ['anonymous vmap', { set: [[0, { goto: { target: 'a' } }]] }, {
      kind: 'set',
      elements: [{ key: { kind: 'literal', value: 0 }, data: { kind: 'verdict', verdict: { kind: 'goto', target: 'a' } } }],
    }],
    ['map lookup', { map: { key: { payload: { protocol: 'ip', field: 'daddr' } }, data: '@pm' } }, {
      kind: 'map',
      key: { kind: 'payload', protocol: 'ip', field: 'daddr' },
      data: { kind: 'setref', name: 'pm' },
    }],
    ['osf (unknown)', { osf: { key: 'name' } }, { kind: 'unknown', json: '{"osf":{"key":"name"}}' }],
  ])('%s', (_name, json, expected) => {
    expect(parseExpr(json)).toEqual(expected);
  });
});
