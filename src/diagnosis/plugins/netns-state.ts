// One network namespace as the diagnostor reads it: what the host trace needs (netfilter, routing,
// ipsets) plus the layer-2 state (neighbours, bridge FDB) and the listening sockets, all parsed
// once from the raw dumps. Lives above netstack because it combines its parsers.

import { ipEquals, parseIp, type IpAddress } from '../model/ip.js';
import type { Protocol } from '../model/packet.js';
import type { Warning } from '../model/warning.js';
import { buildHostFromDumps, type Dump, type HostDumps } from '../netstack/host-dumps.js';
import type { HostTraceInput } from '../netstack/host-trace.js';
import { parseIpvsSave, type IpvsTable } from '../netstack/ipvs/index.js';
import { parseFdb, parseNeighbors, type FdbEntry, type Link, type Neighbor, type RoutingState } from '../netstack/routing/index.js';

/** The raw dumps of one namespace, as the collector takes them (IPv4 for now). */
export interface NetnsDumps extends Omit<HostDumps, 'family' | 'routes' | 'links' | 'addresses' | 'sysctls' | 'lazyRules'> {
  /** `ip -j -d route show table all`. */
  readonly routes: Dump;
  /** `ip -j -d link`. */
  readonly links: Dump;
  /** `ip -j addr`. */
  readonly addresses: Dump;
  /** `sysctl net.ipv4.ip_forward net.ipv4.conf net.bridge` (`key = value` lines). */
  readonly sysctls: Dump;
  /** `ip -j neigh`. */
  readonly neighbors?: Dump;
  /** `bridge -j fdb`. */
  readonly fdb?: Dump;
  /** `ss -Htuln`. */
  readonly sockets?: Dump;
  /** `ipvsadm -Save -n`. */
  readonly ipvsSave?: Dump;
  /**
   * What filters or rewrites packets in this namespace that the dumps do not let the walk simulate
   * (an iptables dump that failed, both iptables backends in use): each names it. A
   * packet crossing the namespace then gets an Inconclusive outcome, never a guessed one.
   */
  readonly unsimulated?: readonly string[];
}

/** A listening TCP socket or a bound UDP socket; `address` undefined = the wildcard (0.0.0.0, ::, *). */
export interface Listener {
  readonly protocol: Exclude<Protocol, 'icmp'>;
  readonly address?: IpAddress;
  readonly port: number;
}

export interface NetnsState {
  readonly trace: HostTraceInput;
  readonly routing: RoutingState;
  readonly neighbors: readonly Neighbor[];
  readonly fdb: readonly FdbEntry[];
  /** undefined when the sockets were not dumped: a delivery cannot be checked. */
  readonly listeners?: readonly Listener[];
  /** net.bridge.bridge-nf-call-iptables: bridged IPv4 frames go through iptables. */
  readonly bridgeNfCallIptables?: boolean;
  /** IPVS virtual services, when dumped. */
  readonly ipvs?: IpvsTable;
  /** See NetnsDumps.unsimulated; empty when the walk can simulate everything the dumps show. */
  readonly unsimulated: readonly string[];
  readonly warnings: readonly Warning[];
}

/**
 * Parses `ss -tuln` lines (`tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:*`, columns after the peer such as
 * `-e`'s ignored), with or without the `Netid State ...` header.
 */
export function parseListeners(dump: Dump): { listeners: Listener[]; warnings: Warning[] } {
  const listeners: Listener[] = [];
  const warnings: Warning[] = [];
  dump.text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || (i === 0 && line.startsWith('Netid'))) return;
    const fields = line.split(/\s+/);
    const netid = fields[0];
    const local = fields[4];
    if ((netid !== 'tcp' && netid !== 'udp') || local === undefined) {
      warnings.push({ code: 'unreadable-socket', message: `cannot read socket line "${line}"`, source: `${dump.source}:${i + 1}` });
      return;
    }
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    let host = local.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const percent = host.indexOf('%');
    if (percent >= 0) host = host.slice(0, percent);
    if (!Number.isInteger(port) || colon < 0) {
      warnings.push({ code: 'unreadable-socket', message: `cannot read the local address of "${line}"`, source: `${dump.source}:${i + 1}` });
      return;
    }
    if (host === '*' || host === '0.0.0.0' || host === '::') {
      listeners.push({ protocol: netid, port });
      return;
    }
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    const address = parseIp(mapped?.[1] ?? host);
    if (address === undefined) {
      warnings.push({ code: 'unreadable-socket', message: `cannot read the address ${host} of "${line}"`, source: `${dump.source}:${i + 1}` });
      return;
    }
    listeners.push({ protocol: netid, address, port });
  });
  return { listeners, warnings };
}

/** Whether a socket takes `protocol` to `address:port`: bound to that address or to the wildcard. */
export function hasListener(listeners: readonly Listener[], protocol: Exclude<Protocol, 'icmp'>, address: IpAddress, port: number): boolean {
  return listeners.some((l) => l.protocol === protocol && l.port === port && (l.address === undefined || ipEquals(l.address, address)));
}

function readSysctlFlag(text: string, key: string): boolean | undefined {
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim() === '1';
  }
  return undefined;
}

/** Parses one namespace's dumps (parse errors propagate, naming the source and line). */
export function buildNetnsState(dumps: NetnsDumps): NetnsState {
  // A diagnosis walks through few of a node's chains: each is parsed when first entered.
  const host = buildHostFromDumps({ ...dumps, family: 4, lazyRules: true });
  const routing = host.input.routing;
  if (routing === undefined) throw new Error(`${dumps.routes.source}: routing state missing although routes were given`);
  const warnings: Warning[] = [...host.warnings];
  const neighbors = dumps.neighbors === undefined ? undefined : parseNeighbors(dumps.neighbors.text, dumps.neighbors.source);
  const fdb = dumps.fdb === undefined ? undefined : parseFdb(dumps.fdb.text, dumps.fdb.source);
  const sockets = dumps.sockets === undefined ? undefined : parseListeners(dumps.sockets);
  const ipvs = dumps.ipvsSave === undefined ? undefined : parseIpvsSave(dumps.ipvsSave.text, dumps.ipvsSave.source);
  warnings.push(...(neighbors?.warnings ?? []), ...(fdb?.warnings ?? []), ...(sockets?.warnings ?? []), ...(ipvs?.warnings ?? []));
  const bridgeNf = readSysctlFlag(dumps.sysctls.text, 'net.bridge.bridge-nf-call-iptables');
  return {
    trace: host.input,
    routing,
    neighbors: neighbors?.neighbors ?? [],
    fdb: fdb?.entries ?? [],
    ...(sockets !== undefined ? { listeners: sockets.listeners } : {}),
    ...(bridgeNf !== undefined ? { bridgeNfCallIptables: bridgeNf } : {}),
    ...(ipvs !== undefined && ipvs.table.services.length > 0 ? { ipvs: ipvs.table } : {}),
    unsimulated: dumps.unsimulated ?? [],
    warnings,
  };
}

/** The link named `name`, if the namespace has it. */
export function linkOf(state: NetnsState, name: string): Link | undefined {
  return state.routing.links.get(name);
}

/** Whether `ip` is configured on any interface of the namespace. */
export function ownsAddress(state: NetnsState, ip: IpAddress): boolean {
  return state.routing.localAddressKeys.has(`${ip.family}:${ip.value}`);
}

/** The interface holding `ip`, if any. */
export function deviceOfAddress(state: NetnsState, ip: IpAddress): string | undefined {
  for (const [dev, addresses] of state.routing.addressesByDev) if (addresses.some((a) => ipEquals(a.local, ip))) return dev;
  return undefined;
}
