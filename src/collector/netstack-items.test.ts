import { describe, expect, it } from '@jest/globals';
import { formatSysctlOutput, sysctlKeyOf } from './capture-plan.js';
import type { StepResult } from './capture-script.js';
import { buildJsonItem, buildTextItem, exitError, iptablesHoldsRules, splitIpBatch } from './netstack-items.js';
import { RawJson, RAW_JSON_THRESHOLD } from './raw-json.js';

const done = (stdout: string, extra: Partial<StepResult> = {}): StepResult => ({
  id: 'x',
  startedAt: Date.parse('2026-01-01T00:00:00.000Z'),
  durationMs: 2.25,
  exitCode: 0,
  stdout: Buffer.from(stdout),
  stderr: '',
  ...extra,
});

describe('splitIpBatch', () => {
  const lines = ['link show', 'route show table 7', 'rule show'];

  it('gives each line its JSON document', () => {
    const parts = splitIpBatch(lines, done('[1]\n[2]\n[3]\n'));
    expect(parts.map((p) => p.stdout?.toString())).toEqual(['[1]', '[2]', '[3]']);
    expect(parts.every((p) => p.exitCode === 0)).toBe(true);
  });

  it('attributes a failed line (ip -force) by the line number on stderr', () => {
    const parts = splitIpBatch(lines, done('[1]\n[3]\n', { exitCode: 1, stderr: 'Error: ipv4: FIB table does not exist.\nDump terminated\nCommand failed -:2' }));
    expect(parts.map((p) => [p.exitCode, p.stdout?.toString(), p.stderr])).toEqual([
      [0, '[1]', ''],
      [1, '', 'Error: ipv4: FIB table does not exist.\nDump terminated'],
      [0, '[3]', ''],
    ]);
  });

  it('fails every line when the documents do not add up', () => {
    const parts = splitIpBatch(lines, done('[1]\n'));
    expect(parts.every((p) => p.failureKind === 'lost' && /cannot attribute/.test(p.failure ?? ''))).toBe(true);
  });

  it('passes a failure of the whole batch to every line', () => {
    const failed: StepResult = { id: 'ip', exitCode: null, failure: 'timed out after 1s (killed)', failureKind: 'timeout' };
    expect(splitIpBatch(lines, failed)).toEqual([failed, failed, failed]);
  });
});

describe('iptablesHoldsRules', () => {
  it.each([
    ['nothing', '', false],
    ['empty tables with ACCEPT policies', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n', false],
    ['a rule', '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n', true],
    ['a user chain only', '*filter\n:KUBE-FIREWALL - [0:0]\nCOMMIT\n', true],
    ['a DROP policy only', '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n', true],
    ['counters in the chain line', '*filter\n:INPUT ACCEPT [12:3400]\nCOMMIT\n', false],
  ])('%s: %s', (_, text, expected) => {
    expect(iptablesHoldsRules(text)).toBe(expected);
  });
});

describe('items', () => {
  it.each([
    [0, '', undefined],
    [127, '', 'ipvsadm: command not found'],
    [126, '', 'ipvsadm: cannot be executed'],
    [2, '\nCan\'t initialize ipvs: Protocol not available\n', "exit status 2: Can't initialize ipvs: Protocol not available"],
    [1, '', 'exit status 1'],
  ])('exit status %i is reported as %s', (code, stderr, expected) => {
    expect(exitError(['ipvsadm', '-Save', '-n'], code, stderr)).toBe(expected);
  });

  it('a text item keeps the output of a command that succeeded, with its timing', () => {
    expect(buildTextItem(['ipset', 'save'], done('create s hash:ip\n', { stderr: ' warn \n' }))).toEqual({
      command: ['ipset', 'save'],
      startedAt: '2026-01-01T00:00:00.000Z',
      durationMs: 2.3,
      exitCode: 0,
      stderr: 'warn',
      output: 'create s hash:ip\n',
    });
  });

  it('a failed command has an error and no output', () => {
    const item = buildTextItem(['ipset', 'save'], done('partial', { exitCode: 1, stderr: 'ipset v7.17: Kernel error' }));
    expect(item.error).toBe('exit status 1: ipset v7.17: Kernel error');
    expect(item.output).toBeUndefined();
  });

  it('a skipped command says why and has no exit status', () => {
    expect(buildTextItem(['ipvsadm', '-Save', '-n'], { id: 'ipvs', exitCode: null, skipped: true }, 'IPVS is not loaded')).toEqual({
      command: ['ipvsadm', '-Save', '-n'],
      exitCode: null,
      skipped: 'IPVS is not loaded',
    });
  });

  it('a JSON item is parsed, or kept as text with an error when it is not JSON', () => {
    expect(buildJsonItem(['ip', '-j', 'link'], done('[{"ifname":"lo"}]')).data).toEqual([{ ifname: 'lo' }]);
    const bad = buildJsonItem(['ip', '-j', 'link'], done('[{"ifname":'));
    expect(bad.error).toMatch(/^the output is not JSON: /);
    expect(bad.output).toBe('[{"ifname":');
    expect(bad.data).toBeUndefined();
  });

  it('a large JSON dump stays raw (checked, not parsed), and a broken one is an error', () => {
    const big = JSON.stringify({ nftables: Array.from({ length: RAW_JSON_THRESHOLD / 10 }, (_, i) => ({ rule: i })) });
    const item = buildJsonItem(['nft', '-j', 'list', 'ruleset'], done(big));
    expect(item.data).toBeInstanceOf(RawJson);
    expect(JSON.parse((item.data as RawJson).bytes.toString())).toEqual(JSON.parse(big));
    const broken = buildJsonItem(['nft', '-j', 'list', 'ruleset'], done(big.slice(0, -1)));
    expect(broken.error).toMatch(/not a single valid JSON value/);
  });
});

describe('sysctls', () => {
  it.each([
    ['/proc/sys/net/ipv4/ip_forward', 'net.ipv4.ip_forward'],
    ['/proc/sys/net/ipv4/conf/eth0.100/rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'],
    ['/proc/sys/net/ipv4/conf/*/rp_filter', 'net.ipv4.conf.*.rp_filter'],
  ])('%s is the key %s', (path, key) => {
    expect(sysctlKeyOf(path)).toBe(key);
  });

  it('formats the read-sysctls output as sysctl prints it', () => {
    expect(formatSysctlOutput('/proc/sys/net/ipv4/ip_forward\t1\n/proc/sys/net/ipv4/conf/vlan.7/arp_ignore\t2\nnoise\n')).toBe('net.ipv4.ip_forward = 1\nnet.ipv4.conf.vlan/7.arp_ignore = 2\n');
  });
});
