import { describe, expect, it } from '@jest/globals';
import { formatTarget } from './format.js';
import type { TableName } from './model.js';
import { ip, ruleOf } from './testing/helpers.js';

const target = (spec: string, table: TableName = 'filter', v6 = false): unknown =>
  ruleOf(spec, table, table === 'filter' || table === 'security' ? 'INPUT' : 'PREROUTING', v6).target;

describe('target parsers', () => {
  it.each([
    ['-j ACCEPT', 'filter', { kind: 'accept' }],
    ['-j DROP', 'filter', { kind: 'drop' }],
    ['-j RETURN', 'filter', { kind: 'return' }],
    ['', 'filter', { kind: 'none' }],
    ['-j REJECT', 'filter', { kind: 'reject', rejectWith: 'icmp-port-unreachable' }],
    ['-p tcp -j REJECT --reject-with tcp-reset', 'filter', { kind: 'reject', rejectWith: 'tcp-reset' }],
    ['-p tcp -j DNAT --to-destination 192.168.1.10:6443', 'nat', {
      kind: 'dnat',
      ranges: [{ minAddress: ip('192.168.1.10'), maxAddress: ip('192.168.1.10'), minPort: 6443, maxPort: 6443 }],
      random: false,
      persistent: false,
    }],
    ['-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.3:8000-8010 --random --persistent', 'nat', {
      kind: 'dnat',
      ranges: [{ minAddress: ip('10.0.0.1'), maxAddress: ip('10.0.0.3'), minPort: 8000, maxPort: 8010 }],
      random: true,
      persistent: true,
    }],
    ['-j DNAT --to-destination 10.0.0.9', 'nat', {
      kind: 'dnat',
      ranges: [{ minAddress: ip('10.0.0.9'), maxAddress: ip('10.0.0.9') }],
      random: false,
      persistent: false,
    }],
    ['-p udp -j SNAT --to-source 1.2.3.4-1.2.3.6:1000-2000 --random-fully', 'nat', {
      kind: 'snat',
      ranges: [{ minAddress: ip('1.2.3.4'), maxAddress: ip('1.2.3.6'), minPort: 1000, maxPort: 2000 }],
      random: false,
      randomFully: true,
      persistent: false,
    }],
    ['-p tcp -j MASQUERADE --to-ports 1024-65535 --random-fully', 'nat', {
      kind: 'masquerade',
      ports: { min: 1024, max: 65535 },
      random: false,
      randomFully: true,
    }],
    ['-j MASQUERADE', 'nat', { kind: 'masquerade', ports: undefined, random: false, randomFully: false }],
    ['-p tcp -j REDIRECT --to-ports 3128', 'nat', { kind: 'redirect', ports: { min: 3128, max: 3128 }, random: false }],
    ['-j MARK --set-xmark 0x4000/0x4000', 'mangle', { kind: 'mark', value: 0x4000, mask: 0x4000 }],
    // libxt_MARK: --set-mark V/M is (V, M|V), --and-mark B is (0, ~B), --or-mark B is (B, B), --xor-mark B is (B, 0)
    ['-j MARK --set-mark 0x5/0xa', 'mangle', { kind: 'mark', value: 5, mask: 0xf }],
    ['-j MARK --set-mark 0x5', 'mangle', { kind: 'mark', value: 5, mask: 0xffffffff }],
    ['-j MARK --and-mark 0xff', 'mangle', { kind: 'mark', value: 0, mask: 0xffffff00 }],
    ['-j MARK --or-mark 0x4000', 'mangle', { kind: 'mark', value: 0x4000, mask: 0x4000 }],
    ['-j MARK --xor-mark 0x4000', 'mangle', { kind: 'mark', value: 0x4000, mask: 0 }],
    ['-j CONNMARK --set-xmark 0x2/0xff', 'mangle', { kind: 'connmark', mode: 'set', value: 2, mask: 0xff }],
    ['-j CONNMARK --set-mark 0x3', 'mangle', { kind: 'connmark', mode: 'set', value: 3, mask: 0xffffffff }],
    ['-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff', 'mangle', { kind: 'connmark', mode: 'save', nfmask: 0xffffffff, ctmask: 0xffffffff }],
    ['-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf0', 'mangle', { kind: 'connmark', mode: 'restore', nfmask: 0xff, ctmask: 0xf0 }],
    ['-j CONNMARK --restore-mark --mask 0xff', 'mangle', { kind: 'connmark', mode: 'restore', nfmask: 0xff, ctmask: 0xff }],
    ['-j LOG --log-prefix "IN DROP: " --log-level 4', 'filter', { kind: 'log', prefix: 'IN DROP: ', level: '4' }],
    ['-j NFLOG --nflog-prefix "x y" --nflog-group 100', 'filter', { kind: 'nflog', group: 100, prefix: 'x y' }],
    ['-j TRACE', 'raw', { kind: 'trace' }],
    ['-j CT --notrack', 'raw', { kind: 'ct', notrack: true, zone: undefined, helper: undefined }],
    ['-j CT --zone 5', 'raw', { kind: 'ct', notrack: false, zone: '5', helper: undefined }],
    ['-p tcp -j CT --helper ftp', 'raw', { kind: 'ct', notrack: false, zone: undefined, helper: 'ftp' }],
    ['-j NOTRACK', 'raw', { kind: 'notrack' }],
    ['-p udp -j CHECKSUM --checksum-fill', 'mangle', { kind: 'checksum' }],
    ['-p tcp -j TPROXY --on-port 8080 --on-ip 127.0.0.1 --tproxy-mark 0x1/0x1', 'mangle', {
      kind: 'tproxy',
      port: 8080,
      address: ip('127.0.0.1'),
      markValue: 1,
      markMask: 1,
    }],
    ['-j DSCP --set-dscp 0x10', 'mangle', { kind: 'dscp', value: 0x10 }],
    ['-j TOS --set-tos 0x08/0xff', 'mangle', { kind: 'tos', value: 8, mask: 0xff }],
    ['-p tcp -j TCPMSS --clamp-mss-to-pmtu', 'mangle', { kind: 'passthrough', name: 'TCPMSS', text: '-j TCPMSS --clamp-mss-to-pmtu' }],
  ])('%s (%s)', (spec, table, expected) => {
    expect(target(spec, table as TableName)).toEqual(expected);
  });

  it('reads an IPv6 DNAT and the IPv6 REJECT default', () => {
    expect(target('-p tcp -j DNAT --to-destination [fd00:244::5]:8080', 'nat', true)).toEqual({
      kind: 'dnat',
      ranges: [{ minAddress: ip('fd00:244::5'), maxAddress: ip('fd00:244::5'), minPort: 8080, maxPort: 8080 }],
      random: false,
      persistent: false,
    });
    expect(target('-j REJECT', 'filter', true)).toEqual({ kind: 'reject', rejectWith: 'icmp6-port-unreachable' });
  });

  it.each([
    ['-j NFQUEUE --queue-num 3', 'NFQUEUE', 'target NFQUEUE is not modelled', '-j NFQUEUE --queue-num 3'],
    ['-j DNAT', 'DNAT', 'DNAT without --to-destination', '-j DNAT'],
    ['-j MARK --set-xmark zz', 'MARK', 'cannot read --set-xmark zz', '-j MARK --set-xmark zz'],
    ['-j ACCEPT --bogus', 'ACCEPT', 'unsupported option --bogus', '-j ACCEPT --bogus'],
    ['-j HMARK --hmark-tuple src', 'HMARK', 'target HMARK is not modelled', '-j HMARK --hmark-tuple src'],
  ])('keeps %s as an unknown target with its text', (spec, name, reason, text) => {
    expect(target(spec, 'nat')).toEqual({ kind: 'unknown', name, reason, text });
  });

  it.each([
    ['-j DNAT --to-destination 10.0.0.1-10.0.0.3:8000-8010 --random --persistent', 'DNAT --to-destination 10.0.0.1-10.0.0.3:8000-8010 --random --persistent'],
    ['-j MARK --or-mark 0x4000', 'MARK --set-xmark 0x4000/0x4000'],
    ['-j CONNMARK --save-mark', 'CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff'],
    ['-j MASQUERADE --to-ports 1024-65535 --random-fully', 'MASQUERADE --to-ports 1024-65535 --random-fully'],
    ['-j REJECT --reject-with icmp-host-prohibited', 'REJECT --reject-with icmp-host-prohibited'],
  ])('formats %s back as %s', (spec, text) => {
    const t = ruleOf(`-p tcp ${spec}`, 'nat', 'PREROUTING').target;
    expect(formatTarget(t)).toBe(text);
  });
});
