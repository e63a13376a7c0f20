// `ip -j -d link show`: the interfaces of one network namespace.

import type { IpAddress } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { optional, readEntries, type EntryReader, type JsonDump } from './json-reader.js';
import { groupId } from './names.js';

export interface VxlanInfo {
  /** The VNI. */
  readonly id: number;
  readonly local?: IpAddress;
  /** Unicast remote (`remote`) or multicast group (`group`), when the device has one. */
  readonly remote?: IpAddress;
  readonly group?: IpAddress;
  /** Underlay device (`dev` in `ip link add ... type vxlan`). */
  readonly dev?: string;
  /** UDP destination port. */
  readonly port?: number;
  readonly learning?: boolean;
  /** `external` (collect_metadata): the VNI and remote come from per-packet metadata. */
  readonly external: boolean;
}

/** `linkinfo.info_slave_data` of a bridge port. */
export interface BridgeSlaveInfo {
  /** STP port state: `forwarding`, `blocking`, `disabled`, `learning`, `listening`. */
  readonly state?: string;
  readonly learning?: boolean;
  readonly flood?: boolean;
  readonly hairpin?: boolean;
  readonly proxyArp?: boolean;
  readonly isolated?: boolean;
  readonly neighSuppress?: boolean;
}

export interface BridgeInfo {
  readonly vlanFiltering?: boolean;
  readonly stpState?: number;
  readonly nfCallIptables?: boolean;
}

export interface Link {
  readonly ifindex: number;
  readonly name: string;
  /** `linkinfo.info_kind`: veth, bridge, vxlan, ...; undefined for physical devices and lo. */
  readonly kind?: string;
  /** `linkinfo.info_slave_kind` of an enslaved device, e.g. `bridge`. */
  readonly slaveKind?: string;
  /** IFF_* flags as printed: UP, LOWER_UP, NO-CARRIER, BROADCAST, LOOPBACK, ... */
  readonly flags: readonly string[];
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** The carrier is up (IFF_LOWER_UP). */
  readonly lowerUp: boolean;
  /** RFC 2863 operational state: UP, DOWN, UNKNOWN, LOWERLAYERDOWN, ... */
  readonly operstate: string;
  readonly mtu: number;
  /** The master device (bridge, bond, VRF) this one is enslaved to. */
  readonly master?: string;
  /** The device this one is linked to in the same namespace: a veth peer, a VLAN's parent. */
  readonly link?: string;
  /** The peer's ifindex when it lives in another namespace (then `linkNetnsid` is set). */
  readonly linkIndex?: number;
  readonly linkNetnsid?: number;
  /** The hardware address. */
  readonly address?: string;
  readonly linkType?: string;
  /** Interface group (`ip link set ... group N`), 0 = default. */
  readonly group: number;
  readonly vxlan?: VxlanInfo;
  readonly bridge?: BridgeInfo;
  readonly bridgeSlave?: BridgeSlaveInfo;
}

export interface ParsedLinks {
  readonly links: readonly Link[];
  readonly warnings: readonly Warning[];
}

/** Parses `ip -j -d link show` (the `-d` details give the kind, vxlan and bridge port data). */
export function parseLinks(json: JsonDump, source: string): ParsedLinks {
  const warnings: Warning[] = [];
  const links = readEntries(json, source, 'link', (raw) => readLink(raw, warnings));
  const seen = new Set<string>();
  for (const link of links) {
    if (seen.has(link.name)) {
      warnings.push({ code: 'duplicate-link', message: `interface ${link.name} appears twice; the first one is used`, source });
    }
    seen.add(link.name);
  }
  return { links, warnings };
}

/** Reads the link part of an `ip -j link` or `ip -j addr` entry. */
export function readLink(raw: EntryReader, warnings: Warning[]): Link {
  const name = raw.string('ifname');
  const e = raw.relabel(`${raw.entry} (${name})`);
  const flags = e.stringArray('flags');
  const info = e.optObject('linkinfo');
  const kind = info?.optString('info_kind');
  const slaveKind = info?.optString('info_slave_kind');
  const data = info?.optObject('info_data');
  const slaveData = info?.optObject('info_slave_data');
  const groupText = e.optString('group') ?? (e.has('group') ? String(e.integer('group')) : undefined);
  let group = 0;
  if (groupText !== undefined) {
    const id = groupId(groupText);
    if (id === undefined) {
      warnings.push({
        code: 'unknown-link-group',
        message: `interface ${name} is in group "${groupText}", a name from a site-specific /etc/iproute2/group; taken as unknown (-1)`,
        source: e.source,
      });
      group = -1;
    } else {
      group = id;
    }
  }
  const link: Link = {
    ifindex: e.integer('ifindex'),
    name,
    ...(kind !== undefined ? { kind } : {}),
    ...(slaveKind !== undefined ? { slaveKind } : {}),
    flags,
    up: flags.includes('UP'),
    lowerUp: flags.includes('LOWER_UP'),
    operstate: e.optString('operstate') ?? 'UNKNOWN',
    mtu: e.optInteger('mtu') ?? 0,
    ...optional('master', e.optString('master')),
    ...optional('link', e.optString('link')),
    ...optional('linkIndex', e.optInteger('link_index')),
    ...optional('linkNetnsid', e.optInteger('link_netnsid')),
    ...optional('address', e.optString('address')),
    ...optional('linkType', e.optString('link_type')),
    group,
    ...(kind === 'vxlan' && data !== undefined ? { vxlan: readVxlan(data) } : {}),
    ...(kind === 'bridge' && data !== undefined ? { bridge: readBridge(data) } : {}),
    ...(slaveKind === 'bridge' && slaveData !== undefined ? { bridgeSlave: readBridgeSlave(slaveData) } : {}),
  };
  return link;
}

function readVxlan(d: EntryReader): VxlanInfo {
  const local = d.optIp('local') ?? d.optIp('local6');
  const remote = d.optIp('remote') ?? d.optIp('remote6');
  const group = d.optIp('group') ?? d.optIp('group6');
  const dev = d.optString('link') ?? (d.has('link_index') ? `if${d.integer('link_index')}` : undefined);
  return {
    id: d.optInteger('id') ?? 0,
    ...optional('local', local),
    ...optional('remote', remote),
    ...optional('group', group),
    ...optional('dev', dev),
    ...optional('port', d.optInteger('port')),
    ...optional('learning', d.boolean('learning')),
    external: d.boolean('external') ?? d.flag('collect_metadata'),
  };
}

function readBridge(d: EntryReader): BridgeInfo {
  return {
    ...optional('vlanFiltering', d.boolean('vlan_filtering')),
    ...optional('stpState', d.optInteger('stp_state')),
    ...optional('nfCallIptables', d.boolean('nf_call_iptables')),
  };
}

function readBridgeSlave(d: EntryReader): BridgeSlaveInfo {
  return {
    ...optional('state', d.optString('state')),
    ...optional('learning', d.boolean('learning')),
    ...optional('flood', d.boolean('flood')),
    ...optional('hairpin', d.boolean('hairpin')),
    ...optional('proxyArp', d.boolean('proxy_arp')),
    ...optional('isolated', d.boolean('isolated')),
    ...optional('neighSuppress', d.boolean('neigh_suppress')),
  };
}
