// Parser of `ipvsadm -Save -n` (ipvsadm-save -n), the rule format of ipvsadm 1.31:
//   -A -t|-u|--sctp-service ADDR:PORT -s SCHED [-p TIMEOUT] [-M NETMASK] [--pe ENGINE] [-o] [-b FLAGS]
//   -A -f MARK [-6] -s SCHED ...
//   -a SERVICE -r ADDR:PORT -g|-i|-m -w WEIGHT [--tun-type ipip|gue|gre [--tun-port P] [--tun-csum...]]
// IPv6 addresses are in brackets (`[fd00::1]:443`). The long option names ipvsadm(8) documents
// are accepted too, so hand-written ipvsadm-restore files parse the same. Without `-n`, ipvsadm
// prints host and service names, which cannot be read back without the resolver: an error says
// so. Every error names the source and line.

import { formatIp, parseIp, type IpAddress, type IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import type { IpvsForwarding, IpvsProtocol, IpvsRealServer, IpvsServiceKey, IpvsTable, IpvsTunnel, IpvsVirtualService } from './types.js';

export class IpvsParseError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${source}:${line}: ${detail}`);
    this.name = 'IpvsParseError';
  }
}

/** Schedulers of Linux 6.x (net/netfilter/ipvs/ip_vs_*.c). */
export const IPVS_SCHEDULERS: ReadonlySet<string> = new Set([
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
]);

export interface IpvsParseResult {
  readonly table: IpvsTable;
  readonly warnings: readonly Warning[];
}

/** Long and short spellings of every option, mapped to one name. */
const OPTION_NAMES: Readonly<Record<string, string>> = {
  '-A': 'add-service', '--add-service': 'add-service',
  '-a': 'add-server', '--add-server': 'add-server',
  '-t': 'tcp-service', '--tcp-service': 'tcp-service',
  '-u': 'udp-service', '--udp-service': 'udp-service',
  '--sctp-service': 'sctp-service',
  '-f': 'fwmark-service', '--fwmark-service': 'fwmark-service',
  '-6': 'ipv6', '--ipv6': 'ipv6',
  '-s': 'scheduler', '--scheduler': 'scheduler',
  '-p': 'persistent', '--persistent': 'persistent',
  '-M': 'netmask', '--netmask': 'netmask',
  '--pe': 'pe',
  '-b': 'sched-flags', '--sched-flags': 'sched-flags',
  '-o': 'ops', '--ops': 'ops',
  '-r': 'real-server', '--real-server': 'real-server',
  '-g': 'gatewaying', '--gatewaying': 'gatewaying',
  '-i': 'ipip', '--ipip': 'ipip',
  '-m': 'masquerading', '--masquerading': 'masquerading',
  '-w': 'weight', '--weight': 'weight',
  '-x': 'u-threshold', '--u-threshold': 'u-threshold',
  '-y': 'l-threshold', '--l-threshold': 'l-threshold',
  '--tun-type': 'tun-type',
  '--tun-port': 'tun-port',
  '--tun-nocsum': 'tun-nocsum',
  '--tun-csum': 'tun-csum',
  '--tun-remcsum': 'tun-remcsum',
};

/** The default persistence timeout of `-p` without a value (ipvsadm.c DEF_PERSISTENCE_TIMEOUT). */
const DEFAULT_PERSISTENCE = 300;

class LineError extends Error {}

function parseNumber(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new LineError(`${what} needs a number, got "${text ?? ''}"`);
  const n = Number(text);
  if (n > max) throw new LineError(`${what} ${n} is out of range (0-${max})`);
  return n;
}

/** `10.0.0.1:80`, `[fd00::1]:80`, or without the port (0). */
export function parseAddressPort(text: string): { address: IpAddress; port: number } {
  if (/[g-z]/i.test(text)) {
    throw new LineError(`"${text}" is not numeric: save with ipvsadm -Save -n (host and service names cannot be read back)`);
  }
  let host = text;
  let port = 0;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6) {
    host = v6[1] ?? '';
    if (v6[2] !== undefined) port = parseNumber(v6[2], 'port', 65535);
  } else if (text.split(':').length === 2) {
    const [h = '', p] = text.split(':');
    host = h;
    port = parseNumber(p, 'port', 65535);
  }
  const address = parseIp(host);
  if (!address) {
    throw new LineError(`"${text}" is not an address`);
  }
  return { address, port };
}

function netmaskLength(text: string, family: IpFamily): number {
  if (family === 6 || /^\d+$/.test(text)) return parseNumber(text, 'netmask', family === 6 ? 128 : 32);
  // ipvsadm prints an IPv4 persistence netmask dotted (-M 255.255.255.0).
  const mask = parseIp(text);
  if (!mask || mask.family !== 4) throw new LineError(`invalid netmask "${text}"`);
  for (let length = 0; length <= 32; length++) {
    if (((0xffffffffn << BigInt(32 - length)) & 0xffffffffn) === mask.value) return length;
  }
  throw new LineError(`netmask "${text}" is not contiguous`);
}

/** A virtual service as a person reads it: `tcp 10.96.0.10:80`, `tcp [fd00::1]:80`, `fwmark 16`. */
export function formatServiceKey(key: IpvsServiceKey): string {
  if (key.kind === 'fwmark') return `fwmark ${key.mark}`;
  const address = formatIp(key.address);
  return `${key.protocol} ${key.address.family === 6 ? `[${address}]` : address}:${key.port}`;
}

/** A virtual service's identity as a map key. */
export function serviceKeyString(key: IpvsServiceKey): string {
  return key.kind === 'fwmark'
    ? `fwmark|${key.family}|${key.mark}`
    : `${key.protocol}|${key.address.family}|${key.address.value}|${key.port}`;
}

interface Options {
  readonly command: 'add-service' | 'add-server';
  readonly values: Map<string, string | undefined>;
}

function readOptions(tokens: string[]): Options {
  let command: Options['command'] | undefined;
  const values = new Map<string, string | undefined>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    const name = OPTION_NAMES[token];
    if (name === undefined) throw new LineError(`unknown option "${token}"`);
    if (name === 'add-service' || name === 'add-server') {
      if (command !== undefined) throw new LineError(`two commands on one line ("${token}")`);
      command = name;
      continue;
    }
    if (values.has(name)) throw new LineError(`option "${token}" given twice`);
    switch (name) {
      case 'ipv6':
      case 'ops':
      case 'gatewaying':
      case 'ipip':
      case 'masquerading':
      case 'tun-nocsum':
      case 'tun-csum':
      case 'tun-remcsum':
        values.set(name, undefined);
        break;
      case 'persistent': {
        // The timeout is optional: take the next word only when it is a number.
        const next = tokens[i + 1];
        values.set(name, next !== undefined && /^\d+$/.test(next) ? (i++, next) : undefined);
        break;
      }
      default: {
        const next = tokens[++i];
        if (next === undefined) throw new LineError(`option "${token}" needs a value`);
        values.set(name, next);
      }
    }
  }
  if (command === undefined) throw new LineError('a line must start with -A (add virtual service) or -a (add real server)');
  return { command, values };
}

function serviceKeyOf(values: Map<string, string | undefined>): IpvsServiceKey {
  const kinds = ['tcp-service', 'udp-service', 'sctp-service', 'fwmark-service'].filter((k) => values.has(k));
  if (kinds.length !== 1) throw new LineError('exactly one of -t, -u, --sctp-service, -f must name the virtual service');
  const kind = kinds[0] ?? '';
  const value = values.get(kind) ?? '';
  if (kind === 'fwmark-service') {
    const mark = parseNumber(value, 'firewall mark', 0xffffffff);
    if (mark === 0) throw new LineError('a firewall mark service needs a mark greater than zero');
    return { kind: 'fwmark', family: values.has('ipv6') ? 6 : 4, mark };
  }
  if (values.has('ipv6')) throw new LineError('-6 applies to firewall mark services only');
  const protocol: IpvsProtocol = kind === 'tcp-service' ? 'tcp' : kind === 'udp-service' ? 'udp' : 'sctp';
  const { address, port } = parseAddressPort(value);
  return { kind: 'address', protocol, address, port };
}

const SERVICE_OPTIONS = new Set(['tcp-service', 'udp-service', 'sctp-service', 'fwmark-service', 'ipv6', 'scheduler', 'persistent', 'netmask', 'pe', 'sched-flags', 'ops']);
const SERVER_OPTIONS = new Set([
  'tcp-service', 'udp-service', 'sctp-service', 'fwmark-service', 'ipv6', 'real-server', 'gatewaying', 'ipip', 'masquerading',
  'weight', 'u-threshold', 'l-threshold', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
]);

export function parseIpvsSave(text: string, source = 'ipvsadm -Save -n'): IpvsParseResult {
  const services = new Map<string, { service: Omit<IpvsVirtualService, 'realServers'>; realServers: IpvsRealServer[] }>();
  const warnings: Warning[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const where = `${source}:${line}`;
    try {
      const { command, values } = readOptions(trimmed.split(/\s+/));
      const allowed = command === 'add-service' ? SERVICE_OPTIONS : SERVER_OPTIONS;
      for (const name of values.keys()) {
        if (!allowed.has(name)) throw new LineError(`--${name} is not an option of ${command === 'add-service' ? '-A' : '-a'}`);
      }
      const key = serviceKeyOf(values);
      const keyString = serviceKeyString(key);
      const family: IpFamily = key.kind === 'fwmark' ? key.family : key.address.family;
      if (command === 'add-service') {
        if (services.has(keyString)) throw new LineError('this virtual service is added twice');
        const scheduler = values.get('scheduler') ?? 'wlc';
        if (!IPVS_SCHEDULERS.has(scheduler)) {
          warnings.push({ code: 'ipvs-unknown-scheduler', message: `unknown IPVS scheduler "${scheduler}"`, source: where });
        }
        const persistent = values.has('persistent');
        if (values.has('netmask') && !persistent) throw new LineError('-M (netmask) needs -p (persistent)');
        const netmask = values.get('netmask');
        const pe = values.get('pe');
        const flags = values.get('sched-flags');
        services.set(keyString, {
          service: {
            key,
            family,
            scheduler,
            schedulerFlags: flags === undefined ? [] : flags.split(','),
            ...(persistent
              ? {
                  persistence: {
                    timeout: values.get('persistent') === undefined ? DEFAULT_PERSISTENCE : parseNumber(values.get('persistent'), 'persistence timeout', 0xffffffff),
                    netmaskLength: netmask === undefined ? (family === 6 ? 128 : 32) : netmaskLength(netmask, family),
                  },
                }
              : {}),
            ...(pe === undefined ? {} : { persistenceEngine: pe }),
            onePacket: values.has('ops'),
            source: where,
          },
          realServers: [],
        });
        return;
      }
      const entry = services.get(keyString);
      if (!entry) throw new LineError('real server added to a virtual service that was not added before (-A)');
      const serverText = values.get('real-server');
      if (serverText === undefined) throw new LineError('-a needs -r (real server)');
      const server = parseAddressPort(serverText);
      const methods = (['gatewaying', 'ipip', 'masquerading'] as const).filter((m) => values.has(m));
      if (methods.length > 1) throw new LineError('more than one forwarding method (-g, -i, -m)');
      const forwarding: IpvsForwarding = methods[0] === 'ipip' ? 'tunnel' : methods[0] === 'masquerading' ? 'masquerade' : 'gateway';
      if (server.address.family !== family && forwarding !== 'tunnel') {
        throw new LineError('a real server of another address family is allowed only for tunneling (-i)');
      }
      const tunnel = tunnelOf(values, forwarding);
      if (entry.realServers.some((r) => r.address.value === server.address.value && r.address.family === server.address.family && r.port === server.port)) {
        throw new LineError(`real server ${serverText} is added twice`);
      }
      const upper = values.get('u-threshold');
      const lower = values.get('l-threshold');
      entry.realServers.push({
        address: server.address,
        port: server.port,
        forwarding,
        weight: values.has('weight') ? parseNumber(values.get('weight'), 'weight', 2147483647) : 1,
        ...(upper === undefined ? {} : { upperThreshold: parseNumber(upper, 'upper threshold', 0xffffffff) }),
        ...(lower === undefined ? {} : { lowerThreshold: parseNumber(lower, 'lower threshold', 0xffffffff) }),
        ...(tunnel === undefined ? {} : { tunnel }),
        source: where,
      });
    } catch (error) {
      if (error instanceof LineError) throw new IpvsParseError(source, line, error.message);
      throw error;
    }
  });
  return {
    table: { services: [...services.values()].map(({ service, realServers }) => ({ ...service, realServers })) },
    warnings,
  };
}

function tunnelOf(values: Map<string, string | undefined>, forwarding: IpvsForwarding): IpvsTunnel | undefined {
  const type = values.get('tun-type');
  const port = values.get('tun-port');
  const checksums = (['tun-nocsum', 'tun-csum', 'tun-remcsum'] as const).filter((c) => values.has(c));
  if (forwarding !== 'tunnel') {
    if (type !== undefined || port !== undefined || checksums.length > 0) throw new LineError('--tun-* options need -i (ipip)');
    return undefined;
  }
  if (type !== undefined && type !== 'ipip' && type !== 'gue' && type !== 'gre') throw new LineError(`unknown tunnel type "${type}"`);
  if (checksums.length > 1) throw new LineError('more than one tunnel checksum option');
  if (port !== undefined && type !== 'gue') throw new LineError('--tun-port applies to --tun-type gue only');
  if (type === 'gue' && port === undefined) throw new LineError('--tun-type gue needs --tun-port');
  const checksum = checksums[0];
  return {
    type: type ?? 'ipip',
    ...(port === undefined ? {} : { port: parseNumber(port, 'tunnel port', 65535) }),
    ...(checksum === undefined ? {} : { checksum: checksum === 'tun-nocsum' ? 'nocsum' : checksum === 'tun-csum' ? 'csum' : 'remcsum' }),
  };
}
