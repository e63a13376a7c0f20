import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import type { Rule, Ruleset } from './model.js';
import { IptablesParseError, parseIptablesSave } from './ruleset-parser.js';
import { buildKubeProxyRules } from '../../../../test/support/kube-proxy-rules.js';
import { dump } from './testing/helpers.js';

const fixture = (name: string): string => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

function allRules(rs: Ruleset): Rule[] {
  return [...rs.tables.values()].flatMap((t) => [...t.chains.values()].flatMap((c) => c.rules));
}

/** Tables → chains → [policy, rule texts], for comparing dumps that differ only in order and counters. */
function shape(rs: Ruleset): Record<string, Record<string, [string | undefined, string[]]>> {
  const out: Record<string, Record<string, [string | undefined, string[]]>> = {};
  for (const [name, table] of [...rs.tables].sort(([a], [b]) => a.localeCompare(b))) {
    out[name] = {};
    for (const [chainName, chain] of table.chains) out[name][chainName] = [chain.policy, chain.rules.map((r) => r.text)];
  }
  return out;
}

const KITCHEN_SINK = ['kitchen-sink.legacy.save', 'kitchen-sink.legacy-counters.save', 'kitchen-sink.nft.save', 'kitchen-sink.nft-counters.save'];

describe('parseIptablesSave on real dumps', () => {
  it.each(KITCHEN_SINK)('reads %s, the same rule set in every backend and with or without counters', (name) => {
    const rs = parseIptablesSave(fixture(name), name);
    expect(shape(rs)).toEqual(shape(parseIptablesSave(fixture('kitchen-sink.legacy.save'), 'reference')));
    expect([...rs.tables.keys()].sort()).toEqual(['filter', 'mangle', 'nat', 'raw', 'security']);
    expect(rs.family).toBe(4);
    expect(rs.backend).toBe(name.includes('nft') ? 'nf_tables' : 'legacy');
    expect(allRules(rs)).toHaveLength(94);
    // The matches and targets iptables-save printed but netdiag does not model, kept as text.
    const unknown = allRules(rs).flatMap((r) => [
      ...r.matches.filter((m) => m.kind === 'unknown').map((m) => m.module),
      ...(r.target.kind === 'unknown' ? [r.target.name] : []),
    ]);
    expect(unknown.sort()).toEqual(['NFQUEUE', 'hashlimit', 'recent', 'string', 'u32']);
  });

  it.each(KITCHEN_SINK)('keeps each rule of %s at its line, with its text', (name) => {
    const text = fixture(name);
    const lines = text.split('\n');
    for (const rule of allRules(parseIptablesSave(text, name))) {
      expect(lines[rule.line - 1]?.endsWith(rule.text)).toBe(true);
      expect(rule.text.startsWith(`-A ${rule.chain}`)).toBe(true);
    }
  });

  it('reads the counters of `iptables-save -c`', () => {
    const rs = parseIptablesSave(fixture('kitchen-sink.nft-counters.save'), 'c');
    const mangle = rs.tables.get('mangle');
    expect(mangle?.chains.get('PREROUTING')?.counters).toEqual({ packets: 1n, bytes: 84n });
    const restore = mangle?.chains.get('PREROUTING')?.rules[2];
    expect(restore?.counters).toEqual({ packets: 1n, bytes: 84n });
    expect(restore?.text).toBe('-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff');
    expect(parseIptablesSave(fixture('kitchen-sink.nft.save'), 'n').tables.get('mangle')?.chains.get('PREROUTING')?.rules[2]?.counters).toBeUndefined();
  });

  it('reads a comment with escaped quotes and backslashes', () => {
    const rs = parseIptablesSave(fixture('kitchen-sink.legacy.save'), 'k');
    const rule = rs.tables.get('nat')?.chains.get('KUBE-SEP-X')?.rules[1];
    expect(rule?.matches[0]).toEqual({ kind: 'comment', comment: `say "hi" and \\ backslash 'q'` });
    expect(rule?.target).toMatchObject({ kind: 'dnat' });
  });

  it('keeps a non-contiguous source mask', () => {
    const rs = parseIptablesSave(fixture('kitchen-sink.legacy.save'), 'k');
    const rule = rs.tables.get('nat')?.chains.get('POSTROUTING')?.rules.find((r) => r.text.includes('255.255.0.255'));
    expect(rule?.base.source).toEqual({
      negated: false,
      address: { family: 4, address: 0x0a000000n, mask: 0xffff00ffn, prefixLength: undefined, text: '10.0.0.0/255.255.0.255' },
    });
  });

  it('reads base matches: negated addresses, wildcard interfaces, protocols, fragments', () => {
    const rs = parseIptablesSave(fixture('kitchen-sink.legacy.save'), 'k');
    const nat = rs.tables.get('nat')?.chains.get('POSTROUTING')?.rules.at(-1);
    expect(nat?.base).toEqual({
      source: { negated: true, address: expect.objectContaining({ text: '10.0.0.0/8', prefixLength: 8 }) },
      destination: { negated: true, address: expect.objectContaining({ text: '10.1.0.0/16', prefixLength: 16 }) },
      outInterface: { name: 'cni', wildcard: true, negated: true },
    });
    const input = rs.tables.get('filter')?.chains.get('INPUT')?.rules ?? [];
    expect(input.find((r) => r.text === '-A INPUT -p gre -j ACCEPT')?.base.protocol).toEqual({ protocol: 47, name: 'gre', negated: false });
    expect(input.find((r) => r.text === '-A INPUT ! -p udp -j ACCEPT')?.base.protocol).toEqual({ protocol: 17, name: 'udp', negated: true });
    expect(input.find((r) => r.text === '-A INPUT -f -j DROP')?.base.fragment).toEqual({ negated: false });
    expect(input.find((r) => r.text === '-A INPUT ! -f -j USER-A')?.base.fragment).toEqual({ negated: true });
    const forward = rs.tables.get('filter')?.chains.get('FORWARD')?.rules ?? [];
    expect(forward[0]?.base).toEqual({
      inInterface: { name: 'cni0', wildcard: false, negated: false },
      outInterface: { name: 'cni0', wildcard: false, negated: true },
    });
    expect(forward[1]?.target).toEqual({ kind: 'goto', chain: 'with.dots_and-dashes' });
  });

  it.each(['kitchen-sink6.legacy-counters.save', 'kitchen-sink6.nft.save'])('reads the IPv6 dump %s', (name) => {
    const rs = parseIptablesSave(fixture(name), name);
    expect(rs.family).toBe(6);
    const input = rs.tables.get('filter')?.chains.get('INPUT')?.rules ?? [];
    expect(input).toHaveLength(3);
    expect(input[0]?.matches[0]).toEqual({ kind: 'icmp6', type: 128, codeMin: 0, codeMax: 255, negated: false });
    expect(input[2]?.base.source).toEqual({ negated: true, address: expect.objectContaining({ family: 6, prefixLength: 32, text: 'fe80::/32' }) });
    expect(rs.tables.get('filter')?.chains.get('FORWARD')?.policy).toBe('DROP');
  });

  it('reads a dump with a table iptables-nft-save could not print', () => {
    const rs = parseIptablesSave(fixture('incompatible.nft.save'), 'inc');
    expect(rs.incompatibleTables).toEqual(['filter']);
    expect(rs.tables.has('filter')).toBe(false);
    expect(rs.tables.get('nat')?.chains.get('POSTROUTING')?.rules).toHaveLength(1);
    expect(rs.warnings).toEqual([expect.objectContaining({ code: 'iptables-table-incompatible', source: 'inc:1' })]);
  });

  it('reads what kube-proxy programs, as iptables-legacy-save and iptables-nft-save -c print it', () => {
    // 3 services of 2 endpoints (2 with a NodePort) and 1 without endpoints, as testdata/README.md says.
    const generated = buildKubeProxyRules({
      services: 4,
      endpointsPerService: 2,
      nodePortEvery: 2,
      emptyEvery: 4,
      udpEvery: 0,
      kubernetesService: false,
    }).text;
    // Each table as text, without comments (the order of tables follows their registration order).
    const tables = (t: string): string[] =>
      t
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n')
        .split(/^(?=\*)/m)
        .sort();
    // The generator writes byte for byte what iptables-legacy-save printed for its rules.
    expect(tables(generated)).toEqual(tables(fixture('kube-proxy.legacy.save')));
    const legacy = parseIptablesSave(fixture('kube-proxy.legacy.save'), 'legacy');
    const nft = parseIptablesSave(fixture('kube-proxy.nft-counters.save'), 'nft');
    expect(shape(nft)).toEqual(shape(legacy));
    const services = legacy.tables.get('nat')?.chains.get('KUBE-SERVICES')?.rules ?? [];
    expect(services).toHaveLength(4);
    expect(services.at(-1)?.matches.map((m) => m.kind)).toEqual(['comment', 'addrtype']);
    expect(allRules(legacy).some((r) => r.matches.some((m) => m.kind === 'unknown') || r.target.kind === 'unknown')).toBe(false);
  });
});

describe('parseIptablesSave', () => {
  it('shares one object between identical matches, targets and addresses', () => {
    const rs = parseIptablesSave(
      dump({ nat: ['-A X -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j Y', '-A X -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j Y', '-A Y -j RETURN'] }),
      't',
    );
    const [a, b] = rs.tables.get('nat')?.chains.get('X')?.rules ?? [];
    expect(a?.matches[0]).toBe(b?.matches[0]);
    expect(a?.target).toBe(b?.target);
    expect(a?.base.destination).toBe(b?.base.destination);
    expect(a?.line).toBe(b === undefined ? -1 : b.line - 1);
  });

  it('keeps a jump to an undeclared chain as an unknown target, with a warning', () => {
    const text = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-MISSING\nCOMMIT\n';
    const rs = parseIptablesSave(text, 'm');
    expect(rs.tables.get('filter')?.chains.get('INPUT')?.rules[0]?.target).toEqual({
      kind: 'unknown',
      name: 'KUBE-MISSING',
      text: '-j KUBE-MISSING',
      reason: 'no chain KUBE-MISSING in table filter',
    });
    expect(rs.warnings).toEqual([expect.objectContaining({ code: 'iptables-undeclared-chain', source: 'm:3' })]);
  });

  it('skips a rule marked for the other family, reads Windows line ends and long options', () => {
    const text = '*filter\r\n:INPUT ACCEPT [0:0]\r\n-A INPUT -6 -j DROP\r\n--append INPUT --source 10.0.0.1 --jump ACCEPT\r\nCOMMIT\r\n';
    const rules = parseIptablesSave(text, 'w', { family: 4 }).tables.get('filter')?.chains.get('INPUT')?.rules;
    expect(rules?.map((r) => r.target.kind)).toEqual(['accept']);
  });

  it('accepts a dump with only some tables and an empty one', () => {
    const rs = parseIptablesSave('', 'empty');
    expect(rs.tables.size).toBe(0);
    expect(rs.family).toBeUndefined();
  });

  it.each([
    ['a table without COMMIT', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n', 'x.rules:4: table filter (line 1) has no COMMIT: the dump is truncated'],
    ['a table starting before the last COMMIT', '*filter\n:INPUT ACCEPT [0:0]\n*nat\n', 'x.rules:3: table nat starts before COMMIT of table filter (line 1): the dump is truncated'],
    ['a rule in an undeclared chain', '*filter\n:INPUT ACCEPT [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n', 'x.rules:3: rule in undeclared chain FORWARD of table filter'],
    ['a bad address', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n', 'x.rules:3: bad address "10.0.0.300" in -s'],
    ['a bad mask', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -d 10.0.0.0/40 -j ACCEPT\nCOMMIT\n', 'x.rules:3: bad address "10.0.0.0/40" in -d'],
    ['an unknown table', '*broute\nCOMMIT\n', 'x.rules:1: unknown table "broute" (expected one of raw, mangle, nat, filter, security)'],
    ['an unknown option', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --bogus 1 -j ACCEPT\nCOMMIT\n', 'x.rules:3: unknown option "--bogus"'],
    ['a rule outside a table', '-A INPUT -j ACCEPT\n', 'x.rules:1: rule outside a table'],
    ['a bad policy', '*filter\n:INPUT REJECT [0:0]\nCOMMIT\n', 'x.rules:2: bad policy "REJECT" for chain INPUT'],
    ['a built-in chain without a policy', '*filter\n:INPUT - [0:0]\nCOMMIT\n', 'x.rules:2: built-in chain INPUT has no policy'],
    ['a chain declared twice', '*filter\n:X - [0:0]\n:X - [0:0]\nCOMMIT\n', 'x.rules:3: chain X declared twice in table filter'],
    ['a table twice', '*filter\nCOMMIT\n*filter\nCOMMIT\n', 'x.rules:3: table filter appears twice'],
    ['an unterminated quote', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "x -j ACCEPT\nCOMMIT\n', 'x.rules:3: unterminated quoted string'],
    ['an IPv6 address in an IPv4 dump', '# Generated by iptables-save v1.8.9 on x\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s fd00::1 -j ACCEPT\nCOMMIT\n', 'x.rules:4: IPv6 address "fd00::1" in an IPv4 rule set'],
    ['a negated -m', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT ! -m tcp -j ACCEPT\nCOMMIT\n', 'x.rules:3: "!" before -m'],
    ['two targets', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT -j DROP\nCOMMIT\n', 'x.rules:3: more than one target'],
    ['a bad protocol', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p nosuch -j ACCEPT\nCOMMIT\n', 'x.rules:3: bad protocol "nosuch"'],
    ['bad counters', '*filter\n:INPUT ACCEPT [0:0]\n[1:x] -A INPUT -j ACCEPT\nCOMMIT\n', 'x.rules:3: bad counters "[1:x]"'],
    ['a command other than -A', '*filter\n:INPUT ACCEPT [0:0]\n-I INPUT 1 -j ACCEPT\nCOMMIT\n', 'x.rules:3: expected -A CHAIN, found "-I"'],
    ['garbage', '*filter\nhello\nCOMMIT\n', 'x.rules:2: unexpected line "hello"'],
  ])('rejects %s naming the source and line', (_name, text, message) => {
    let error: unknown;
    try {
      parseIptablesSave(text, 'x.rules');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IptablesParseError);
    expect((error as Error).message).toBe(message);
  });

  it('reports the line of a truncated dump even when it ends inside a table', () => {
    try {
      parseIptablesSave(fixture('kitchen-sink.legacy.save').split('\n').slice(0, 40).join('\n'), 'cut');
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(IptablesParseError);
      expect((e as IptablesParseError).line).toBe(40);
      expect((e as Error).message).toBe('cut:40: table filter (line 10) has no COMMIT: the dump is truncated');
    }
  });
});

describe('parseIptablesSave with lazyRules', () => {
  /** Every chain's rules, read in the order given: the lazy parser must not depend on it. */
  const rulesByChain = (rs: Ruleset, reverse = false): Record<string, Rule[]> => {
    const chains = [...rs.tables.values()].flatMap((t) => [...t.chains.values()]);
    const out: Record<string, Rule[]> = {};
    for (const c of reverse ? chains.reverse() : chains) out[`${c.table} ${c.name}`] = [...c.rules];
    return out;
  };

  it.each([...KITCHEN_SINK, 'kube-proxy'])('%s: the same rules as the eager parser, whatever chain is read first', (name) => {
    const text = name === 'kube-proxy' ? buildKubeProxyRules({ services: 40, endpointsPerService: 3 }).text : fixture(name);
    const eager = rulesByChain(parseIptablesSave(text, name));
    expect(rulesByChain(parseIptablesSave(text, name, { lazyRules: true }), true)).toEqual(eager);
  });

  it('keeps the order of a chain whose lines take the slow path (--append, counters)', () => {
    const text = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A INPUT -s 10.0.0.1/32 -j DROP', '--append INPUT -s 10.0.0.2/32 -j DROP', '[1:2] -A INPUT -s 10.0.0.3/32 -j ACCEPT', 'COMMIT', ''].join('\n');
    const lazy = parseIptablesSave(text, 'x', { lazyRules: true });
    expect(lazy.tables.get('filter')?.chains.get('INPUT')?.rules.map((r) => r.line)).toEqual([5, 6, 7]);
  });

  it('checks the structure up front, and a bad rule line when its chain is first read, naming the line', () => {
    const undeclared = ['*filter', ':INPUT ACCEPT [0:0]', '-A NOPE -j DROP', 'COMMIT', ''].join('\n');
    expect(() => parseIptablesSave(undeclared, 'x', { lazyRules: true })).toThrow('x:3: rule in undeclared chain NOPE of table filter');
    const badRule = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', '-A FORWARD -j ACCEPT', '-A INPUT -s 10.0.0.300 -j DROP', 'COMMIT', ''].join('\n');
    const rs = parseIptablesSave(badRule, 'x', { lazyRules: true });
    expect(rs.tables.get('filter')?.chains.get('FORWARD')?.rules).toHaveLength(1);
    expect(() => rs.tables.get('filter')?.chains.get('INPUT')?.rules).toThrow(new IptablesParseError('x', 5, 'bad address "10.0.0.300" in -s'));
  });
});
