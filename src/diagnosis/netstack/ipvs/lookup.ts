// Which virtual service an incoming packet belongs to, in the order the kernel looks
// (ip_vs_ctl.c ip_vs_service_find):
// 1. a non-zero skb mark: the firewall-mark service of that mark and address family;
// 2. the service of exactly <protocol, destination address, destination port>;
// 3. TCP only, when an FTP service (port 21) exists: to port 20, or to an unprivileged port
//    (>= net.ipv4.ip_unprivileged_port_start), the FTP service of that address (passive FTP data);
// 4. the catch-all service of that protocol and address with port 0.
// Only TCP, UDP and SCTP are scheduled by IPVS: an ICMP echo matches no service. Whether the
// packet reaches IPVS at all (the destination must be local: kube-ipvs0) is the caller's question.

import type { Packet } from '../../model/packet.js';
import { assertNever } from '../../model/assert-never.js';
import { serviceKeyString } from './parse.js';
import type { IpvsProtocol, IpvsRealServer, IpvsServiceKey, IpvsTable, IpvsVirtualService } from './types.js';

export type IpvsMatchKind = 'fwmark' | 'address' | 'ftp-data' | 'port-zero';

export interface IpvsServiceMatch {
  readonly service: IpvsVirtualService;
  /** Which step of the kernel's lookup found it. */
  readonly matchedBy: IpvsMatchKind;
}

export interface IpvsLookupOptions {
  /** `net.ipv4.ip_unprivileged_port_start` of the namespace (default 1024), for the FTP data rule. */
  readonly unprivilegedPortStart?: number;
}

const FTP_PORT = 21;
const FTP_DATA_PORT = 20;

interface Index {
  readonly byKey: ReadonlyMap<string, IpvsVirtualService>;
  readonly hasFtp: boolean;
  readonly hasPortZero: boolean;
}

const indexes = new WeakMap<IpvsTable, Index>();

function indexOf(table: IpvsTable): Index {
  let index = indexes.get(table);
  if (!index) {
    const byKey = new Map(table.services.map((s) => [serviceKeyString(s.key), s]));
    const ports = table.services.map((s) => (s.key.kind === 'address' ? s.key.port : undefined));
    index = { byKey, hasFtp: ports.includes(FTP_PORT), hasPortZero: ports.includes(0) };
    indexes.set(table, index);
  }
  return index;
}

function packetProtocol(packet: Packet): IpvsProtocol | undefined {
  switch (packet.protocol) {
    case 'tcp':
    case 'udp':
      return packet.protocol;
    case 'icmp':
      return undefined;
    default:
      return assertNever(packet.protocol, 'protocol');
  }
}

/** The virtual service the kernel would pick for `packet`, and which lookup step found it. */
export function findVirtualService(ipvs: IpvsTable, packet: Packet, options: IpvsLookupOptions = {}): IpvsServiceMatch | undefined {
  const protocol = packetProtocol(packet);
  if (protocol === undefined) return undefined;
  const index = indexOf(ipvs);
  const family = packet.dst.family;
  if (packet.mark !== 0) {
    const service = index.byKey.get(serviceKeyString({ kind: 'fwmark', family, mark: packet.mark >>> 0 }));
    if (service) return { service, matchedBy: 'fwmark' };
  }
  const at = (port: number): IpvsVirtualService | undefined => {
    const key: IpvsServiceKey = { kind: 'address', protocol, address: packet.dst, port };
    return index.byKey.get(serviceKeyString(key));
  };
  const exact = at(packet.dport);
  if (exact) return { service: exact, matchedBy: 'address' };
  const unprivileged = options.unprivilegedPortStart ?? 1024;
  if (protocol === 'tcp' && index.hasFtp && (packet.dport === FTP_DATA_PORT || packet.dport >= unprivileged)) {
    const ftp = at(FTP_PORT);
    if (ftp) return { service: ftp, matchedBy: 'ftp-data' };
  }
  if (index.hasPortZero) {
    const any = at(0);
    if (any) return { service: any, matchedBy: 'port-zero' };
  }
  return undefined;
}

/** The virtual service for `packet`, or undefined when IPVS has none for it. */
export function lookupVirtualService(ipvs: IpvsTable, packet: Packet, options: IpvsLookupOptions = {}): IpvsVirtualService | undefined {
  return findVirtualService(ipvs, packet, options)?.service;
}

/**
 * Real servers a scheduler may pick for a new connection: weight above zero (a weight-0 server is
 * quiescent). With none, the kernel answers a new connection with ICMP port unreachable
 * (ip_vs_leave). Upper thresholds depend on live connection counts, which a dump does not have.
 */
export function schedulableRealServers(service: IpvsVirtualService): IpvsRealServer[] {
  return service.realServers.filter((r) => r.weight > 0);
}
