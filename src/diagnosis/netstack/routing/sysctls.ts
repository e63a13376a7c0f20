// The per-interface IPv4 sysctls that change a route lookup (net.ipv4.conf.{all,DEV}.*), and how
// the kernel combines `all` with the device's value (include/linux/inetdevice.h): forwarding is
// the device's own value (writing `all` copies it to every device), rp_filter is the maximum of
// the two (IN_DEV_MAXCONF), the booleans are "either" (IN_DEV_ORCONF).

export interface InterfaceSysctls {
  readonly forwarding?: boolean;
  /** 0 off, 1 strict, 2 loose. */
  readonly rpFilter?: number;
  readonly acceptLocal?: boolean;
  readonly sendRedirects?: boolean;
  readonly ignoreRoutesWithLinkdown?: boolean;
  readonly routeLocalnet?: boolean;
  readonly srcValidMark?: boolean;
  /** Answer ARP for addresses routed out of another device (arp_fwd_proxy). */
  readonly proxyArp?: boolean;
}

export interface RoutingSysctls {
  readonly all?: InterfaceSysctls;
  readonly devices?: Readonly<Record<string, InterfaceSysctls>>;
}

const KEYS: Readonly<Record<string, keyof InterfaceSysctls>> = {
  forwarding: 'forwarding',
  rp_filter: 'rpFilter',
  accept_local: 'acceptLocal',
  send_redirects: 'sendRedirects',
  ignore_routes_with_linkdown: 'ignoreRoutesWithLinkdown',
  route_localnet: 'routeLocalnet',
  src_valid_mark: 'srcValidMark',
  proxy_arp: 'proxyArp',
};

/**
 * Builds the sysctls from `sysctl -a` style pairs (`net.ipv4.conf.eth0.rp_filter` → `1`, or the
 * /proc/sys path form `net/ipv4/conf/eth0/rp_filter`). A device name containing a dot is written
 * with `/` in the dotted form (`net.ipv4.conf.eth0/100.forwarding`). Other keys are ignored.
 */
export function buildRoutingSysctls(values: Readonly<Record<string, string | number>>): RoutingSysctls {
  const all: Record<string, number | boolean> = {};
  const devices: Record<string, Record<string, number | boolean>> = {};
  for (const [key, raw] of Object.entries(values)) {
    let dev: string | undefined;
    let name: string | undefined;
    const slashed = /^net\/ipv4\/conf\/([^/]+)\/([a-z_]+)$/.exec(key);
    const dotted = /^net\.ipv4\.conf\.(.+)\.([a-z_]+)$/.exec(key);
    if (slashed !== null) [dev, name] = [slashed[1], slashed[2]];
    else if (dotted !== null) [dev, name] = [dotted[1]?.replaceAll('/', '.'), dotted[2]];
    const field = name === undefined ? undefined : KEYS[name];
    if (dev === undefined || field === undefined || dev === 'default') continue;
    const n = Number(String(raw).trim());
    if (!Number.isInteger(n)) continue;
    const value = field === 'rpFilter' ? n : n !== 0;
    if (dev === 'all') all[field] = value;
    else (devices[dev] ??= {})[field] = value;
  }
  return { all, devices };
}

/** Effective values for one device, plus whether each was known. */
export interface EffectiveSysctl<T> {
  readonly value: T;
  /** False when neither the device's nor `all`'s value was in the snapshot: the kernel default is used. */
  readonly known: boolean;
}

function pair(sysctls: RoutingSysctls | undefined, dev: string): [InterfaceSysctls | undefined, InterfaceSysctls | undefined] {
  return [sysctls?.all, sysctls?.devices?.[dev]];
}

/** IN_DEV_FORWARD: the device's own `forwarding` (kernel default 0). */
export function effectiveForwarding(sysctls: RoutingSysctls | undefined, dev: string): EffectiveSysctl<boolean> {
  const [all, own] = pair(sysctls, dev);
  if (own?.forwarding !== undefined) return { value: own.forwarding, known: true };
  if (all?.forwarding !== undefined) return { value: all.forwarding, known: true };
  return { value: false, known: false };
}

/** IN_DEV_RPFILTER: max(all, dev) (kernel default 0 in a new namespace). */
export function effectiveRpFilter(sysctls: RoutingSysctls | undefined, dev: string): EffectiveSysctl<number> {
  const [all, own] = pair(sysctls, dev);
  if (all?.rpFilter === undefined && own?.rpFilter === undefined) return { value: 0, known: false };
  return { value: Math.max(all?.rpFilter ?? 0, own?.rpFilter ?? 0), known: true };
}

type BooleanKey = 'acceptLocal' | 'sendRedirects' | 'ignoreRoutesWithLinkdown' | 'routeLocalnet' | 'srcValidMark' | 'proxyArp';

const BOOLEAN_DEFAULTS: Readonly<Record<BooleanKey, boolean>> = {
  acceptLocal: false,
  sendRedirects: true,
  ignoreRoutesWithLinkdown: false,
  routeLocalnet: false,
  srcValidMark: false,
  proxyArp: false,
};

/** IN_DEV_ORCONF: `all` or the device. */
export function effectiveFlag(sysctls: RoutingSysctls | undefined, dev: string, key: BooleanKey): EffectiveSysctl<boolean> {
  const [all, own] = pair(sysctls, dev);
  const a = all?.[key];
  const d = own?.[key];
  if (a === undefined && d === undefined) return { value: BOOLEAN_DEFAULTS[key], known: false };
  return { value: (a ?? false) || (d ?? false), known: true };
}
