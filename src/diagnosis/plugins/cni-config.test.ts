import { describe, expect, it } from '@jest/globals';
import { formatIp, formatPrefix } from '../model/ip.js';
import { CniFieldReader, formatCniConfigError, loadCniConfig, parseCniConfig, readIpam, selectCniConfigFile } from './cni-config.js';

const list = (plugins: unknown[]): string => JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins });

describe('selectCniConfigFile (the runtime takes the first .conf, .conflist or .json in lexical order)', () => {
  it.each<[string, string[], string | undefined]>([
    ['lexical order', ['/etc/cni/net.d/20-b.conflist', '/etc/cni/net.d/10-a.conf'], '/etc/cni/net.d/10-a.conf'],
    ['other extensions are ignored', ['/etc/cni/net.d/00-readme.txt', '/etc/cni/net.d/10-a.conflist.bak', '/etc/cni/net.d/99-z.json'], '/etc/cni/net.d/99-z.json'],
    ['nothing usable', ['/etc/cni/net.d/README'], undefined],
  ])('%s', (_name, paths, expected) => {
    expect(selectCniConfigFile(paths.map((path) => ({ path, content: '' })))?.path).toBe(expected);
  });
});

describe('parseCniConfig', () => {
  it('reads a list with its plugins and their JSON paths', () => {
    const result = parseCniConfig('/etc/cni/net.d/10.conflist', list([{ type: 'bridge' }, { type: 'portmap' }]));
    expect(result.kind === 'ok' ? result.config.plugins.map((p) => `${p.field} ${p.type}`) : result).toEqual(['plugins[0] bridge', 'plugins[1] portmap']);
  });

  it('reads a single plugin file (.conf) as a list of one', () => {
    const result = parseCniConfig('/etc/cni/net.d/10.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'bridge' }));
    expect(result.kind === 'ok' ? [result.config.cniVersion, result.config.plugins.map((p) => p.type)] : result).toEqual(['0.4.0', ['bridge']]);
  });

  it.each<[string, string, string, string]>([
    ['invalid JSON', '10.conflist', '{', 'not valid JSON'],
    ['no name', '10.conflist', JSON.stringify({ plugins: [{ type: 'x' }] }), 'name: missing'],
    ['plugins not an array', '10.conflist', JSON.stringify({ name: 'n', plugins: {} }), 'plugins: missing or not an array'],
    ['empty plugins', '10.conflist', JSON.stringify({ name: 'n', plugins: [] }), 'plugins: empty'],
    ['a plugin without type', '10.conflist', list([{ type: 'bridge' }, { bridge: 'cni0' }]), 'plugins[1].type: missing'],
    ['a .conf without type', '10.conf', JSON.stringify({ name: 'n' }), 'type: missing'],
    ['cniVersion not a string', '10.conf', JSON.stringify({ name: 'n', type: 't', cniVersion: 1 }), 'cniVersion: must be a string'],
  ])('%s: an error naming the file and field', (_name, file, content, expected) => {
    const result = parseCniConfig(file, content);
    expect(result.kind === 'error' ? formatCniConfigError(result.error) : 'ok').toContain(`${file}: ${expected}`);
  });
});

describe('loadCniConfig', () => {
  it('names an unreadable file and a directory without configuration', () => {
    expect(loadCniConfig([{ path: '/etc/cni/net.d/10.conflist', error: 'permission denied' }])).toEqual({
      kind: 'error',
      error: { file: '/etc/cni/net.d/10.conflist', message: 'cannot be read (permission denied)' },
    });
    expect(loadCniConfig([])).toEqual({ kind: 'none', message: 'no CNI configuration file was collected' });
  });
});

describe('readIpam (host-local)', () => {
  const read = (ipam: unknown): { ipam: ReturnType<typeof readIpam>; errors: string[] } => {
    const reader = new CniFieldReader('f.conflist', 'plugins[0]', { type: 'bridge', ipam });
    const result = readIpam(reader);
    return { ipam: result, errors: reader.problems.map(formatCniConfigError) };
  };

  it('the legacy subnet form: the gateway defaults to the first address; routes keep their gw', () => {
    const { ipam, errors } = read({ type: 'host-local', subnet: '10.244.0.0/24', routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.244.0.254' }] });
    expect(errors).toEqual([]);
    if (ipam === undefined || !('rangeSets' in ipam)) throw new Error('not host-local');
    expect(ipam.rangeSets.map((s) => s.map((r) => `${formatPrefix(r.subnet)} gw ${formatIp(r.gateway)} ${r.gatewaySet}`))).toEqual([['10.244.0.0/24 gw 10.244.0.1 false']]);
    expect(ipam.routes.map((r) => `${formatPrefix(r.dst)} ${r.gw === undefined ? '-' : formatIp(r.gw)}`)).toEqual(['0.0.0.0/0 -', '10.96.0.0/12 10.244.0.254']);
  });

  it('ranges with a gateway set', () => {
    const { ipam } = read({ type: 'host-local', ranges: [[{ subnet: '10.1.0.0/16', gateway: '10.1.255.254', rangeStart: '10.1.0.10' }]] });
    expect(ipam !== undefined && 'rangeSets' in ipam ? ipam.rangeSets.flat().map((r) => [formatIp(r.gateway), r.gatewaySet, r.rangeStart === undefined ? '' : formatIp(r.rangeStart)]) : ipam).toEqual([['10.1.255.254', true, '10.1.0.10']]);
  });

  it.each<[string, unknown, string]>([
    ['a subnet that is no CIDR', { type: 'host-local', subnet: '10.244.0.0' }, 'f.conflist: plugins[0].ipam.subnet: "10.244.0.0" is not a CIDR'],
    ['a gateway outside the subnet', { type: 'host-local', subnet: '10.244.0.0/24', gateway: '10.0.0.1' }, 'f.conflist: plugins[0].ipam.gateway: outside the subnet 10.244.0.0/24'],
    ['a range without subnet', { type: 'host-local', ranges: [[{ gateway: '10.0.0.1' }]] }, 'f.conflist: plugins[0].ipam.ranges[0][0].subnet: missing'],
    ['a route without dst', { type: 'host-local', subnet: '10.244.0.0/24', routes: [{ gw: '10.244.0.1' }] }, 'f.conflist: plugins[0].ipam.routes[0].dst: missing'],
    ['no type', { subnet: '10.244.0.0/24' }, 'f.conflist: plugins[0].ipam.type: missing'],
  ])('%s', (_name, ipam, expected) => {
    expect(read(ipam).errors.join('\n')).toContain(expected);
  });

  it('another IPAM type is named, not read', () => {
    expect(read({ type: 'dhcp' }).ipam).toEqual({ type: 'dhcp', unsupported: true });
  });
});
