// Flags of `netdiag trace`, checked into a typed request before any file is read.

import { isIp, type ConntrackState, type Protocol } from '../diagnosis/index.js';
import { UsageError } from './cli-error.js';
import { parseFlags } from './flags.js';

export const TRACE_USAGE = `usage: netdiag trace --iptables-save FILE [--ipset FILE] [--routes FILE] [--rules FILE]
                     [--links FILE] [--addresses FILE] [--sysctls FILE]
                     --src IP --dst IP [--sport N] --dport N --protocol tcp|udp|icmp
                     [--iif NAME] [--oif NAME] [--local-ips IP,IP...] [--mark N]
                     [--ctstate NEW|ESTABLISHED|RELATED|INVALID|UNTRACKED] [--json]

Walks one packet through a host's netfilter hooks in kernel order, offline, from its dumps.

  --iptables-save FILE  output of \`iptables-save\` (legacy or nft, with or without -c); - for stdin
  --ipset FILE          output of \`ipset save\`, for -m set matches
  --routes FILE         output of \`ip -j -d route show table all\`: the routing decision finds the
                        output interface (again after DNAT and mark changes)
  --rules FILE          output of \`ip -j rule\` (policy routing; needs --routes)
  --src, --dst IP       the packet's addresses; --sport (default 40000), --dport its ports
  --protocol P          tcp, udp or icmp (an echo request; no ports)
  --iif NAME            the interface the packet arrives on; without it the packet is locally
                        generated (OUTPUT path)
  --oif NAME            force the output interface instead of looking it up
  --local-ips LIST      this host's addresses (addrtype LOCAL, and INPUT vs FORWARD)
  --mark N              the packet's fwmark on arrival (decimal or 0x hex)
  --ctstate STATE       the conntrack state of the packet (default NEW: the first packet)
  --json                print one JSON object instead of the readable trace
`;

export interface TraceRequest {
  readonly iptablesSaveFile: string;
  readonly ipsetFile?: string;
  readonly routesFile?: string;
  readonly rulesFile?: string;
  readonly linksFile?: string;
  readonly addressesFile?: string;
  readonly sysctlsFile?: string;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly protocol: Protocol;
  readonly iif?: string;
  readonly oif?: string;
  readonly localIps: readonly string[];
  readonly mark: number;
  readonly ctState: ConntrackState;
  readonly json: boolean;
}

const CT_STATES: readonly ConntrackState[] = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED'];
const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'icmp'];
const DEFAULT_SPORT = 40000;

function requireIp(flag: string, value: string): string {
  if (!isIp(value)) throw new UsageError(`${flag} ${JSON.stringify(value)}: not an IPv4 or IPv6 address`);
  return value;
}

function parseInteger(flag: string, value: string, max: number): number {
  const n = /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value, 16) : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected an integer from 0 to ${max}`);
  return n;
}

export function parseTraceArgs(args: string[]): TraceRequest {
  const values = parseFlags(args, {
    'iptables-save': { type: 'string' },
    ipset: { type: 'string' },
    routes: { type: 'string' },
    rules: { type: 'string' },
    links: { type: 'string' },
    addresses: { type: 'string' },
    sysctls: { type: 'string' },
    src: { type: 'string' },
    dst: { type: 'string' },
    sport: { type: 'string' },
    dport: { type: 'string' },
    protocol: { type: 'string' },
    iif: { type: 'string' },
    oif: { type: 'string' },
    'local-ips': { type: 'string' },
    mark: { type: 'string' },
    ctstate: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const missing = ['iptables-save', 'src', 'dst', 'protocol'].filter((flag) => values[flag as keyof typeof values] === undefined);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((f) => `--${f}`).join(', ')}`);
  const protocol = (values.protocol ?? '').toLowerCase() as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol ${JSON.stringify(values.protocol)}: expected tcp, udp or icmp`);
  if (protocol !== 'icmp' && values.dport === undefined) throw new UsageError(`missing --dport (required for ${protocol})`);
  for (const flag of ['rules', 'links', 'sysctls'] as const) {
    if (values[flag] !== undefined && values.routes === undefined) throw new UsageError(`--${flag} needs --routes (it only informs the routing decision)`);
  }
  const ctState = (values.ctstate ?? 'NEW').toUpperCase() as ConntrackState;
  if (!CT_STATES.includes(ctState)) throw new UsageError(`--ctstate ${JSON.stringify(values.ctstate)}: expected one of ${CT_STATES.join(', ')}`);
  const localIps = (values['local-ips'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((ip) => requireIp('--local-ips', ip));
  return {
    iptablesSaveFile: values['iptables-save'] ?? '',
    ...(values.ipset !== undefined ? { ipsetFile: values.ipset } : {}),
    ...(values.routes !== undefined ? { routesFile: values.routes } : {}),
    ...(values.rules !== undefined ? { rulesFile: values.rules } : {}),
    ...(values.links !== undefined ? { linksFile: values.links } : {}),
    ...(values.addresses !== undefined ? { addressesFile: values.addresses } : {}),
    ...(values.sysctls !== undefined ? { sysctlsFile: values.sysctls } : {}),
    src: requireIp('--src', values.src ?? ''),
    dst: requireIp('--dst', values.dst ?? ''),
    sport: protocol === 'icmp' ? 0 : parseInteger('--sport', values.sport ?? String(DEFAULT_SPORT), 65535),
    dport: protocol === 'icmp' ? 0 : parseInteger('--dport', values.dport ?? '', 65535),
    protocol,
    ...(values.iif !== undefined ? { iif: values.iif } : {}),
    ...(values.oif !== undefined ? { oif: values.oif } : {}),
    localIps,
    mark: parseInteger('--mark', values.mark ?? '0', 0xffffffff),
    ctState,
    json: values.json ?? false,
  };
}
