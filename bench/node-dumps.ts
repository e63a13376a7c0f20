// The network dumps of one node of a flat (host-gw style) Kubernetes cluster, as the commands
// `netdiag trace` takes print them: `ip -j -d route show table all`, `ip -j rule`, `ip -j -d link`,
// `ip -j addr` and `sysctl -a | grep '^net.ipv4.conf\.'`. The shapes (field names, which fields
// each route type has, the IPv6 routes `table all` lists too) are those of the kernel's own output
// in examples/trace and src/diagnosis/netstack/routing/fixtures.
//
// Node k of the cluster has the address 10.0.0.10 + k on eth0 in the node subnet 10.0.0.0/16
// (`nodeAddress`), and the pod CIDR 10.244.k.0/24 on its bridge cni0 (kube-controller-manager's
// --node-cidr-mask-size 24 out of --cluster-cidr 10.244.0.0/16). Every other node's pod CIDR is
// reached through that node (`onlink`, as flannel's host-gw backend writes it). Pure.

export interface NodeDumpsOptions {
  /** Nodes in the cluster (at most 256: one /24 of 10.244.0.0/16 each). */
  readonly nodes: number;
  /** Which node the dumps are of (0-based). */
  readonly node: number;
  /** Extra routes in the main table (e.g. a BGP-fed table), /26 blocks of 10.128.0.0/9 via other nodes. Default 0. */
  readonly extraRoutes?: number;
}

export interface NodeDumps {
  readonly routes: string;
  readonly rules: string;
  readonly links: string;
  readonly addresses: string;
  readonly sysctls: string;
  /** This node's address on eth0. */
  readonly nodeIp: string;
  /** This node's pod CIDR, on cni0. */
  readonly podCidr: string;
  /** The gateway of the node subnet (the default route). */
  readonly gateway: string;
  /** Number of route entries in `routes`. */
  readonly routeCount: number;
}

export const CLUSTER_CIDR = '10.244.0.0/16';
const NODE_SUBNET = '10.0.0.0/16';

/** The address of node `k` in the node subnet 10.0.0.0/16 (10.0.0.10 for node 0). */
export function nodeAddress(k: number): string {
  const n = k + 10;
  return `10.0.${Math.floor(n / 256)}.${n % 256}`;
}

type Json = Record<string, unknown>;

function unicast(dst: string, fields: Json): Json {
  return { type: 'unicast', dst, ...fields };
}

function localRoute(type: 'local' | 'broadcast', dst: string, dev: string, prefsrc: string): Json {
  return { type, dst, dev, table: 'local', protocol: 'kernel', scope: type === 'local' ? 'host' : 'link', prefsrc, flags: [] };
}

const LINK_COMMON = { qdisc: 'noqueue', linkmode: 'DEFAULT', group: 'default', txqlen: 1000, promiscuity: 0, allmulti: 0 };

export function buildNodeDumps(options: NodeDumpsOptions): NodeDumps {
  const { nodes, node } = options;
  if (nodes < 1 || nodes > 256 || node < 0 || node >= nodes) throw new Error(`node ${node} of ${nodes}: need 0 <= node < nodes <= 256`);
  const extra = options.extraRoutes ?? 0;
  if (extra > 2 ** 17) throw new Error(`at most ${2 ** 17} extra routes (/26 blocks of 10.128.0.0/9)`);
  const nodeIp = nodeAddress(node);
  const podGateway = `10.244.${node}.1`;
  const gateway = '10.0.0.1';

  const routes: Json[] = [
    unicast('default', { gateway, dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] }),
    unicast(NODE_SUBNET, { dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: nodeIp, flags: [] }),
  ];
  for (let k = 0; k < nodes; k++) {
    const dst = `10.244.${k}.0/24`;
    if (k === node) routes.push(unicast(dst, { dev: 'cni0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: podGateway, flags: [] }));
    else routes.push(unicast(dst, { gateway: nodeAddress(k), dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: ['onlink'] }));
  }
  for (let i = 0; i < extra; i++) {
    const block = i * 64; // /26 blocks from 10.128.0.0
    const dst = `10.${128 + Math.floor(block / 65536)}.${Math.floor(block / 256) % 256}.${block % 256}/26`;
    routes.push(unicast(dst, { gateway: nodeAddress(i % nodes), dev: 'eth0', table: 'main', protocol: 'bird', scope: 'global', flags: ['onlink'] }));
  }
  routes.push(
    localRoute('local', nodeIp, 'eth0', nodeIp),
    localRoute('broadcast', '10.0.255.255', 'eth0', nodeIp),
    localRoute('local', podGateway, 'cni0', podGateway),
    localRoute('broadcast', `10.244.${node}.255`, 'cni0', podGateway),
    localRoute('local', '127.0.0.0/8', 'lo', '127.0.0.1'),
    localRoute('local', '127.0.0.1', 'lo', '127.0.0.1'),
    localRoute('broadcast', '127.255.255.255', 'lo', '127.0.0.1'),
  );
  // `table all` lists the IPv6 tables too.
  for (const dev of ['eth0', 'cni0']) {
    routes.push({ type: 'unicast', dst: 'fe80::/64', dev, table: 'main', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' });
  }
  routes.push({ type: 'local', dst: '::1', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'global', metric: 0, flags: [], pref: 'medium' });
  for (const dev of ['eth0', 'cni0']) {
    routes.push({ type: 'multicast', dst: 'ff00::/8', dev, table: 'local', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' });
  }

  const rules = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 32766, src: 'all', table: 'main' },
    { priority: 32767, src: 'all', table: 'default' },
  ];

  const lo = { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', ...LINK_COMMON, link_type: 'loopback', address: '00:00:00:00:00:00', broadcast: '00:00:00:00:00:00' };
  const mac = (n: number): string => `02:00:0a:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  const eth0 = {
    ifindex: 2,
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    ...LINK_COMMON,
    link_type: 'ether',
    address: mac(node),
    broadcast: 'ff:ff:ff:ff:ff:ff',
  };
  const cni0 = {
    ifindex: 3,
    ifname: 'cni0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    ...LINK_COMMON,
    link_type: 'ether',
    address: mac(node + 0x8000),
    broadcast: 'ff:ff:ff:ff:ff:ff',
  };
  const links = [lo, { ...eth0, linkinfo: { info_kind: 'veth' } }, { ...cni0, linkinfo: { info_kind: 'bridge' } }];
  const forever = { valid_life_time: 4294967295, preferred_life_time: 4294967295 };
  const addresses = [
    { ...lo, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo', ...forever }, { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host', ...forever }] },
    { ...eth0, addr_info: [{ family: 'inet', local: nodeIp, prefixlen: 16, broadcast: '10.0.255.255', scope: 'global', label: 'eth0', ...forever }] },
    { ...cni0, addr_info: [{ family: 'inet', local: podGateway, prefixlen: 24, broadcast: `10.244.${node}.255`, scope: 'global', label: 'cni0', ...forever }] },
  ];

  const sysctls: string[] = [];
  for (const dev of ['all', 'default', 'cni0', 'eth0', 'lo']) {
    sysctls.push(`net.ipv4.conf.${dev}.accept_local = 0`, `net.ipv4.conf.${dev}.forwarding = 1`, `net.ipv4.conf.${dev}.route_localnet = 0`, `net.ipv4.conf.${dev}.rp_filter = ${dev === 'all' ? 0 : 2}`);
  }

  return {
    routes: JSON.stringify(routes),
    rules: JSON.stringify(rules),
    links: JSON.stringify(links),
    addresses: JSON.stringify(addresses),
    sysctls: `${sysctls.join('\n')}\n`,
    nodeIp,
    podCidr: `10.244.${node}.0/24`,
    gateway,
    routeCount: routes.length,
  };
}
