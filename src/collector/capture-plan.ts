// What the agent runs in each network namespace and once per node, as capture steps for the
// capture script (./capture-script.ts). Pure data: the commands, the cheap checks that let a
// namespace with nothing to dump skip a process, and how the steps are split into lanes (capture
// processes of their own) so that the host's heavy dumps run side by side.

import type { CaptureStep, SysctlGroup } from './capture-script.js';

/** The lines of the one `ip -batch` that dumps a namespace's routing state, and the item each fills. */
export const IP_BATCH = [
  { item: 'links', line: 'link show' },
  { item: 'addresses', line: 'address show' },
  { item: 'routes', line: 'route show table all' },
  { item: 'rules', line: 'rule show' },
  { item: 'neighbors', line: 'neighbour show' },
] as const;

export type IpBatchItem = (typeof IP_BATCH)[number]['item'];

/** `ip -force` keeps going after a failed line and names it on stderr (`Command failed -:N`). */
export const IP_BATCH_ARGV = ['ip', '-j', '-d', '-force', '-batch', '-'] as const;

/** The logical command of one batch line, as a person would run it alone. */
export function ipBatchLineCommand(line: string): string[] {
  return ['ip', '-j', '-d', ...line.split(' ')];
}

/**
 * The sysctls that decide whether and how a namespace forwards: every key the routing engine reads
 * (net.ipv4.conf.*: forwarding, rp_filter, accept_local, send_redirects, route_localnet,
 * src_valid_mark, ignore_routes_with_linkdown), ARP behaviour, IPv6 forwarding, br_netfilter and
 * conntrack. A key missing from the kernel (br_netfilter or conntrack not loaded) is named on the
 * item's stderr: that absence is itself a fact.
 */
export const SYSCTL_GROUPS: readonly SysctlGroup[] = [
  { dir: '/proc/sys/net/ipv4', keys: ['ip_forward'] },
  {
    dir: '/proc/sys/net/ipv4/conf/*',
    keys: [
      'forwarding',
      'rp_filter',
      'proxy_arp',
      'route_localnet',
      'arp_ignore',
      'arp_announce',
      'accept_local',
      'src_valid_mark',
      'send_redirects',
      'ignore_routes_with_linkdown',
    ],
  },
  { dir: '/proc/sys/net/ipv6/conf/*', keys: ['forwarding', 'disable_ipv6'] },
  { dir: '/proc/sys/net/bridge', keys: ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables'] },
  { dir: '/proc/sys/net/netfilter', keys: ['nf_conntrack_max', 'nf_conntrack_count'] },
];

/** `sysctl`'s name of a path under /proc/sys: components joined by `.`, a `.` inside one written `/`. */
export function sysctlKeyOf(path: string): string {
  return path
    .replace(/^\/proc\/sys\//, '')
    .split('/')
    .map((component) => component.replaceAll('.', '/'))
    .join('.');
}

/** The keys of the sysctl groups as `sysctl` patterns (`net.ipv4.conf.*.rp_filter`), for the item's command. */
export function sysctlCommand(groups: readonly SysctlGroup[]): string[] {
  return ['sysctl', ...groups.flatMap((g) => g.keys.map((key) => sysctlKeyOf(`${g.dir}/${key}`)))];
}

/** Keys by path: every namespace of a node has the same few paths (all, default, lo, eth0...). */
const keyCache = new Map<string, string>();

/** The `PATH<TAB>VALUE` lines of the read-sysctls action, as `sysctl` prints them: `KEY = VALUE`. */
export function formatSysctlOutput(text: string): string {
  let out = '';
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const path = line.slice(0, tab);
    let key = keyCache.get(path);
    if (key === undefined) {
      if (keyCache.size >= 10_000) keyCache.clear();
      key = sysctlKeyOf(path);
      keyCache.set(path, key);
    }
    out += `${key} = ${line.slice(tab + 1)}\n`;
  }
  return out;
}

/** Device kinds whose forwarding database matters: bridges and their ports, vxlan tunnels. */
const FDB_KINDS = ['"info_kind":"bridge"', '"info_slave_kind":"bridge"', '"info_kind":"vxlan"'];

/** The ids of the netstack steps: one per item, `ip` filling the five routing items. */
export type NetstackStepId =
  | 'ip'
  | 'rules6'
  | 'fdb'
  | 'sysctls'
  | 'nft-chains'
  | 'nft'
  | 'iptables-nft'
  | 'ip6tables-nft'
  | 'iptables-legacy'
  | 'ip6tables-legacy'
  | 'ipset'
  | 'ipvs'
  | 'ss';

type NetstackStep = CaptureStep & { readonly id: NetstackStepId };

function exec(id: NetstackStepId, argv: readonly string[], extra: Pick<CaptureStep, 'capture' | 'guard'> = {}): NetstackStep {
  return { ...extra, id, action: { kind: 'exec', argv } };
}

const IP_STEP: NetstackStep = {
  id: 'ip',
  action: { kind: 'exec', argv: IP_BATCH_ARGV, stdin: IP_BATCH.map((b) => b.line).join('\n') },
  capture: true,
};
const RULES6_STEP = exec('rules6', ['ip', '-6', '-j', '-d', 'rule', 'show']);
const FDB_STEP = exec('fdb', ['bridge', '-j', 'fdb', 'show'], {
  guard: { kind: 'output-contains', step: 'ip', anyOf: FDB_KINDS, skipped: 'no bridge, bridge port or vxlan device in the namespace' },
});
const SYSCTLS_STEP: NetstackStep = { id: 'sysctls', action: { kind: 'read-sysctls', groups: SYSCTL_GROUPS } };
const NFT_CHAINS_STEP = exec('nft-chains', ['nft', 'list', 'chains'], { capture: true });

/**
 * The tables iptables-nft creates, as `nft list chains` prints them (`table ip nat {`, then its
 * chains): iptables-nft-save and ip6tables-nft-save print their rules, so `nft -j list ruleset`
 * would only repeat them (about a second of CPU and 160 MiB on a node with 20,000 kube-proxy
 * rules, where listing the chains takes 30 ms; listing only the tables would cost as much as the
 * ruleset, since nft then reads every rule). Any other table with a chain (native nftables:
 * kube-proxy's nftables mode, firewalld, the arp and bridge families) makes the collector dump the
 * whole ruleset; a table without chains filters nothing.
 */
export const IPTABLES_NFT_TABLE_LINES: readonly string[] = ['ip', 'ip6'].flatMap((family) => ['filter', 'nat', 'mangle', 'raw', 'security'].map((name) => `table ${family} ${name} {`));

const NFT_ARGV = ['nft', '-j', 'list', 'ruleset'];
const NFT_STEP = exec('nft', NFT_ARGV, {
  guard: {
    kind: 'output-lines-beyond',
    step: 'nft-chains',
    prefix: 'table ',
    lines: IPTABLES_NFT_TABLE_LINES,
    skipped: 'no nftables table but those iptables-nft manages (nft list chains): their rules are in the iptables-nft-save and ip6tables-nft-save dumps',
  },
});
const IPTABLES_NFT_ARGV = ['iptables-nft-save'];
const IP6TABLES_NFT_ARGV = ['ip6tables-nft-save'];
const LEGACY_STEPS: readonly NetstackStep[] = [
  exec('iptables-legacy', ['iptables-legacy-save'], {
    guard: { kind: 'file-has-content', path: '/proc/net/ip_tables_names', skipped: 'no legacy iptables table exists in the namespace (/proc/net/ip_tables_names is empty)' },
  }),
  exec('ip6tables-legacy', ['ip6tables-legacy-save'], {
    guard: { kind: 'file-has-content', path: '/proc/net/ip6_tables_names', skipped: 'no legacy ip6tables table exists in the namespace (/proc/net/ip6_tables_names is empty)' },
  }),
];
const IPSET_STEP = exec('ipset', ['ipset', 'save']);
const IPVS_STEP = exec('ipvs', ['ipvsadm', '-Save', '-n'], {
  guard: {
    kind: 'file-has-content',
    path: '/proc/net/ip_vs',
    skipped: 'IPVS is not loaded (/proc/net/ip_vs is absent); ipvsadm was not run because it would load the ip_vs module',
  },
});
const SS_STEP = exec('ss', ['ss', '-t', '-u', '-l', '-n', '-e']);

/**
 * The netstack steps of one namespace, in lanes (each lane one capture process).
 * - `single`: one process. The nftables chains are listed first and kept, so that
 *   iptables-nft-save runs only when an `ip` (ip6tables-nft-save: `ip6`) table exists, and
 *   `nft -j list ruleset` only when a table is not iptables-nft's: an ordinary pod then costs six
 *   processes (the shell and five tools), not thirteen.
 * - `parallel`: for the host, whose rule sets are large: the nftables tables and ruleset, the two
 *   iptables-nft dumps, and everything else run in three processes side by side.
 */
export function buildNetstackPlan(layout: 'single' | 'parallel'): readonly (readonly CaptureStep[])[] {
  const rest = [...LEGACY_STEPS, IPSET_STEP, IPVS_STEP, SS_STEP];
  if (layout === 'parallel') {
    return [
      [IP_STEP, RULES6_STEP, FDB_STEP, SYSCTLS_STEP, ...rest],
      [NFT_CHAINS_STEP, NFT_STEP],
      [exec('iptables-nft', IPTABLES_NFT_ARGV), exec('ip6tables-nft', IP6TABLES_NFT_ARGV)],
    ];
  }
  return [
    [
      IP_STEP,
      RULES6_STEP,
      FDB_STEP,
      SYSCTLS_STEP,
      NFT_CHAINS_STEP,
      NFT_STEP,
      exec('iptables-nft', IPTABLES_NFT_ARGV, {
        guard: { kind: 'output-contains', step: 'nft-chains', anyOf: ['table ip '], skipped: 'the nftables ruleset has no table of family ip' },
      }),
      exec('ip6tables-nft', IP6TABLES_NFT_ARGV, {
        guard: { kind: 'output-contains', step: 'nft-chains', anyOf: ['table ip6 '], skipped: 'the nftables ruleset has no table of family ip6' },
      }),
      ...rest,
    ],
  ];
}

/** Tool versions, once per node, in the agent's own namespace. */
export function buildToolVersionSteps(): readonly CaptureStep[] {
  const version = (id: string, argv: readonly string[], extra: Pick<CaptureStep, 'guard'> = {}): CaptureStep => ({ ...extra, id, action: { kind: 'exec', argv } });
  return [
    version('ip', ['ip', '-V']),
    version('bridge', ['bridge', '-V']),
    version('ss', ['ss', '-V']),
    version('nft', ['nft', '--version']),
    version('iptables-legacy', ['iptables-legacy-save', '--version']),
    version('iptables-nft', ['iptables-nft-save', '--version']),
    version('ipset', ['ipset', 'version']),
    version('ipvsadm', ['ipvsadm', '--version'], {
      guard: { kind: 'file-has-content', path: '/proc/net/ip_vs', skipped: 'IPVS is not loaded; ipvsadm would load the ip_vs module to print its version' },
    }),
    version('nsenter', ['nsenter', '--version']),
    version('bash', ['bash', '--version']),
  ];
}
