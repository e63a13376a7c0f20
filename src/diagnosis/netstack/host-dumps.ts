// From a host's raw dumps (the text of iptables-save, ipset save, ip -j ...) to what the host
// trace reads. Parse errors propagate as the parsers' own errors, which name the source and line.

import { ipEquals, type IpAddress, type IpFamily } from '../model/ip.js';
import type { Warning } from '../model/warning.js';
import type { HostTraceInput } from './host-trace.js';
import { IpsetTable, parseIpsetSave } from './ipset/index.js';
import { parseIptablesSave } from './netfilter/index.js';
import { NftParseError, parseNftRuleset } from './nftables/index.js';
import {
  buildRoutingState,
  buildRoutingSysctls,
  parseAddresses,
  parseLinks,
  parseRoutes,
  parseRules,
  RT_SCOPE_HOST,
  RT_SCOPE_UNIVERSE,
  type Address,
  type Link,
  type Route,
  type RoutingSysctls,
} from './routing/index.js';

/** A dump and where it came from (a file name), for messages. */
export interface Dump {
  readonly text: string;
  readonly source: string;
}

export interface HostDumps {
  /** `iptables-save` (or `ip6tables-save` for IPv6 packets). */
  readonly iptablesSave: Dump;
  readonly ipsetSave?: Dump;
  /** `ip -j -d route show table all`. */
  readonly routes?: Dump;
  /** `ip -j rule`; without it the kernel's default rules stand in. */
  readonly rules?: Dump;
  /** `ip -j -d link`; without it the devices the routes name are taken as up. */
  readonly links?: Dump;
  /** `ip -j addr`; without it each `local` route's address is taken as an address of its device. */
  readonly addresses?: Dump;
  /** `sysctl -a` (or just net.ipv4.conf.*): forwarding and rp_filter per interface. */
  readonly sysctls?: Dump;
  /** `nft -j list ruleset` (JSON text): native nftables base chains run among the iptables tables. */
  readonly nftables?: Dump;
  /** Addresses of the host given by the caller, added to those found in the dumps. */
  readonly localAddresses?: readonly IpAddress[];
  /** The family of the packets to trace: picks the rule set's family and the routes'. */
  readonly family: IpFamily;
  /** Parse each chain's rules when a trace first enters it (see ParseIptablesOptions.lazyRules). */
  readonly lazyRules?: boolean;
}

export interface HostFromDumps {
  readonly input: HostTraceInput;
  /** Assumptions made for what the dumps did not say. */
  readonly warnings: readonly Warning[];
}

/** Loopback and every device a route names, as up: a stand-in when no link dump is given. */
function inferLinks(routes: readonly Route[], extraDevices: readonly string[]): Link[] {
  const names = new Set<string>(['lo', ...extraDevices]);
  for (const route of routes) for (const nh of route.nexthops) if (nh.dev !== undefined) names.add(nh.dev);
  return [...names].map((name, i) => ({
    ifindex: i + 1,
    name,
    flags: name === 'lo' ? ['LOOPBACK', 'UP', 'LOWER_UP'] : ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    up: true,
    lowerUp: true,
    operstate: name === 'lo' ? 'UNKNOWN' : 'UP',
    mtu: name === 'lo' ? 65536 : 1500,
    group: 0,
  }));
}

/**
 * The kernel adds a `local` route (table local, scope host) for every address it configures, so
 * the local table lists the host's addresses and their devices; prefix lengths are not in it.
 */
function inferAddresses(routes: readonly Route[], links: readonly Link[]): Address[] {
  const ifindex = new Map(links.map((l) => [l.name, l.ifindex]));
  const addresses: Address[] = [];
  for (const route of routes) {
    const dev = route.dev;
    if (route.type !== 'local' || dev === undefined || route.dst.length !== (route.family === 4 ? 32 : 128)) continue;
    const local = { family: route.family, value: route.dst.network };
    const loopback = dev === 'lo';
    addresses.push({
      dev,
      ifindex: ifindex.get(dev) ?? 0,
      family: route.family,
      local,
      prefixLength: route.dst.length,
      scope: loopback ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE,
      secondary: false,
      flags: [],
    });
  }
  return addresses;
}

/** `sysctl -a` output: `net.ipv4.conf.eth0.forwarding = 1` lines; others are ignored. */
function parseSysctlText(dump: Dump): RoutingSysctls {
  const values: Record<string, string> = {};
  for (const line of dump.text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return buildRoutingSysctls(values);
}

/**
 * Without a sysctl dump a trace of netfilter should not fail on sysctls it was not shown: every
 * interface is taken to forward (as on any Kubernetes node) with rp_filter off, and a warning says so.
 */
const ASSUMED_SYSCTLS: RoutingSysctls = { all: { forwarding: true, rpFilter: 0 } };

function addUnique(into: IpAddress[], more: readonly IpAddress[]): void {
  for (const ip of more) if (!into.some((known) => ipEquals(known, ip))) into.push(ip);
}

function parseNftDump(dump: Dump): ReturnType<typeof parseNftRuleset> {
  let json: unknown;
  try {
    json = JSON.parse(dump.text);
  } catch (error) {
    throw new NftParseError(`${dump.source}: not a JSON document: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseNftRuleset(json, dump.source);
}

/** Parses a host's dumps into the trace's input; `devices` are interfaces the query names (iif, oif). */
export function buildHostFromDumps(dumps: HostDumps, devices: readonly string[] = []): HostFromDumps {
  const warnings: Warning[] = [];
  const ruleset = parseIptablesSave(dumps.iptablesSave.text, dumps.iptablesSave.source, { family: dumps.family, lazyRules: dumps.lazyRules === true });
  const ipsetDump = dumps.ipsetSave === undefined ? undefined : parseIpsetSave(dumps.ipsetSave.text, dumps.ipsetSave.source);
  const ipsets = ipsetDump === undefined ? undefined : new IpsetTable(ipsetDump);
  const nftables = dumps.nftables === undefined ? undefined : parseNftDump(dumps.nftables);
  const localAddresses: IpAddress[] = [...(dumps.localAddresses ?? [])];

  let routing: HostTraceInput['routing'];
  if (dumps.routes !== undefined) {
    const routes = parseRoutes(dumps.routes.text, dumps.routes.source).routes;
    const rules = dumps.rules === undefined ? undefined : parseRules(dumps.rules.text, dumps.rules.source).rules;
    let links: readonly Link[];
    if (dumps.links !== undefined) {
      links = parseLinks(dumps.links.text, dumps.links.source).links;
    } else {
      links = inferLinks(routes, devices);
      warnings.push({
        code: 'links-assumed',
        message: `no link dump: the devices the routes name (${links.map((l) => l.name).join(', ')}) are taken as up`,
        source: dumps.routes.source,
      });
    }
    let addresses: readonly Address[];
    if (dumps.addresses !== undefined) {
      addresses = parseAddresses(dumps.addresses.text, dumps.addresses.source).addresses;
    } else {
      addresses = inferAddresses(routes, links);
      warnings.push({
        code: 'addresses-assumed',
        message: 'no address dump: the addresses of the local routing table are taken as the host\'s addresses',
        source: dumps.routes.source,
      });
    }
    let sysctls: RoutingSysctls;
    if (dumps.sysctls !== undefined) {
      sysctls = parseSysctlText(dumps.sysctls);
    } else {
      sysctls = ASSUMED_SYSCTLS;
      warnings.push({
        code: 'sysctls-assumed',
        message: 'no sysctl dump: every interface is taken to forward (net.ipv4.conf.*.forwarding=1) with rp_filter off',
        source: dumps.routes.source,
      });
    }
    routing = buildRoutingState({ links, addresses, routes, sysctls, ...(rules !== undefined ? { rules } : {}) });
    addUnique(localAddresses, addresses.map((a) => a.local));
  } else if (dumps.addresses !== undefined) {
    addUnique(localAddresses, parseAddresses(dumps.addresses.text, dumps.addresses.source).addresses.map((a) => a.local));
  }

  return {
    input: {
      ruleset,
      ...(ipsets !== undefined ? { ipsets } : {}),
      ...(routing !== undefined ? { routing } : {}),
      localAddresses,
      ...(nftables !== undefined ? { nftables } : {}),
    },
    warnings: [...ruleset.warnings, ...(ipsetDump?.warnings ?? []), ...(nftables?.warnings ?? []), ...warnings],
  };
}
