import { describe, expect, it } from '@jest/globals';
import { formatIp } from '../model/ip.js';
import { readBridgeConfig } from './bridge.js';

const file = (plugins: unknown[], path = '/etc/cni/net.d/10-bridge.conflist'): { path: string; content: string } => ({
  path,
  content: JSON.stringify({ cniVersion: '1.0.0', name: 'bridge-net', plugins }),
});
const ipam = { type: 'host-local', subnet: '10.244.0.0/24', routes: [{ dst: '0.0.0.0/0' }] };

describe('readBridgeConfig', () => {
  it('applies the plugin defaults: cni0, no gateway, no masquerade, no hairpin, the kernel MTU', () => {
    const result = readBridgeConfig([file([{ type: 'bridge', ipam }])]);
    expect(result.kind === 'bridge' ? { ...result.config, ipam: undefined } : result).toEqual({
      file: '/etc/cni/net.d/10-bridge.conflist',
      network: 'bridge-net',
      bridge: 'cni0',
      isGateway: false,
      isDefaultGateway: false,
      ipMasq: false,
      hairpinMode: false,
      ipam: undefined,
      ipamType: 'host-local',
    });
  });

  it('isDefaultGateway implies isGateway; the bridge plugin is found after other plugins', () => {
    const result = readBridgeConfig([file([{ type: 'tuning' }, { type: 'bridge', bridge: 'br-pods', isDefaultGateway: true, ipMasq: true, hairpinMode: true, mtu: 1450, ipam }])]);
    if (result.kind !== 'bridge') throw new Error(JSON.stringify(result));
    expect([result.config.bridge, result.config.isGateway, result.config.ipMasq, result.config.hairpinMode, result.config.mtu]).toEqual(['br-pods', true, true, true, 1450]);
    expect(result.config.ipam?.rangeSets.flat().map((r) => formatIp(r.gateway))).toEqual(['10.244.0.1']);
  });

  it.each<[string, unknown[], string]>([
    ['a flag of the wrong type', [{ type: 'bridge', hairpinMode: 'true', ipam }], 'plugins[0].hairpinMode: must be true or false, not "true"'],
    ['an MTU of the wrong type', [{ type: 'bridge', mtu: '1500', ipam }], 'plugins[0].mtu: must be an integer'],
    ['no IPAM', [{ type: 'bridge' }], 'plugins[0].ipam: missing'],
    ['a bad subnet', [{ type: 'bridge', ipam: { type: 'host-local', subnet: 'ten' } }], 'plugins[0].ipam.subnet: "ten" is not a CIDR'],
  ])('%s: an error naming the file and field', (_name, plugins, expected) => {
    const result = readBridgeConfig([file(plugins)]);
    expect(result.kind === 'error' ? result.errors.map((e) => `${e.field ?? ''}: ${e.message}`).join('\n') : result.kind).toContain(expected);
    expect(result.kind === 'error' ? result.errors.every((e) => e.file === '/etc/cni/net.d/10-bridge.conflist') : false).toBe(true);
  });

  it('another CNI first in lexical order: not a bridge node, naming its plugin types', () => {
    expect(readBridgeConfig([file([{ type: 'bridge', ipam }], '/etc/cni/net.d/20-bridge.conflist'), file([{ type: 'calico' }], '/etc/cni/net.d/10-calico.conflist')])).toEqual({
      kind: 'other',
      file: '/etc/cni/net.d/10-calico.conflist',
      types: ['calico'],
    });
  });
});
