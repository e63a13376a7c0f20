// Re-records the calico fixtures (test/diagnosis/fixtures/calico-bgp, calico-vxlan, calico-ipip)
// from live namespaces laid out by test/support/calico-cluster.ts, as root:
// `npm run record-fixtures`. A deliberate step, not part of `npm test` (the file name does not match
// the test pattern); review the diff before committing it. Besides each namespace's dumps and
// objects.json, every node gets cni/10-calico.conflist, the conflist calico's installer writes.
//
// calico-ipip is recorded from the IPIP layout built without tunl0 (this kernel has no ipip
// module) and then edited, as its README.md says: tunl0 (kind ipip, MTU 1480, the node's tunnel
// address as a /32) is added to ip-link.json, ip-addr.json and the local table of ip-route.json,
// and BIRD's routes to other blocks move from `dev eth0` to `dev tunl0` (`onlink` kept).
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCalicoCluster, CALICO_NODES, IPIP_MTU, type CalicoMode } from '../support/calico-cluster.js';
import { loadRecordedCluster, recordCluster } from '../support/recorded-cluster.js';
import { isRoot } from '../support/root.js';

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));

type Json = Record<string, unknown>;

function readJson(file: string): Json[] {
  return JSON.parse(readFileSync(file, 'utf8')) as Json[];
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value)}\n`);
}

/** tunl0 as `ip -j -d link` prints the ipip fallback device once felix has configured it. */
function tunl0Link(ifindex: number): Json {
  return {
    ifindex,
    ifname: 'tunl0',
    flags: ['NOARP', 'UP', 'LOWER_UP'],
    mtu: IPIP_MTU,
    qdisc: 'noqueue',
    operstate: 'UNKNOWN',
    linkmode: 'DEFAULT',
    group: 'default',
    txqlen: 1000,
    link_type: 'ipip',
    address: '0.0.0.0',
    broadcast: '0.0.0.0',
    promiscuity: 0,
    min_mtu: 0,
    max_mtu: 0,
    linkinfo: { info_kind: 'ipip', info_data: { proto: 'ip', remote: 'any', local: 'any', ttl: 0, pmtudisc: false } },
    num_tx_queues: 1,
    num_rx_queues: 1,
  };
}

/** The IPIP layout's dumps, from the ones recorded without tunl0. */
function addTunl0(dir: string): void {
  for (const spec of CALICO_NODES) {
    const base = join(dir, 'nodes', spec.name);
    const links = readJson(join(base, 'ip-link.json'));
    const ifindex = Math.max(...links.map((l) => Number(l.ifindex))) + 1;
    const link = tunl0Link(ifindex);
    writeJson(join(base, 'ip-link.json'), [...links, link]);
    const { linkinfo: _linkinfo, linkmode: _linkmode, promiscuity: _p, min_mtu: _min, max_mtu: _max, num_tx_queues: _tx, num_rx_queues: _rx, ...addrLink } = link;
    const address = { family: 'inet', local: spec.tunnelIp, prefixlen: 32, scope: 'global', label: 'tunl0', valid_life_time: 4294967295, preferred_life_time: 4294967295 };
    writeJson(join(base, 'ip-addr.json'), [...readJson(join(base, 'ip-addr.json')), { ...addrLink, addr_info: [address] }]);
    const others = new Set(CALICO_NODES.filter((n) => n.name !== spec.name).map((n) => n.ip));
    const routes = readJson(join(base, 'ip-route.json')).map((r) =>
      r.protocol === 'bird' && typeof r.gateway === 'string' && others.has(r.gateway) ? { ...r, dev: 'tunl0' } : r,
    );
    routes.push({ type: 'local', dst: spec.tunnelIp, dev: 'tunl0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: spec.tunnelIp, flags: [] });
    writeJson(join(base, 'ip-route.json'), routes);
  }
}

describe('record the calico fixtures', () => {
  it.each<[CalicoMode, string]>([
    ['bgp', 'calico-bgp'],
    ['vxlan', 'calico-vxlan'],
    ['ipip', 'calico-ipip'],
  ])('%s → fixtures/%s', async (mode, name) => {
    if (!isRoot) throw new Error('recording the fixtures builds network namespaces: run it as root');
    const dir = join(FIXTURES, name);
    // The README is written by hand: kept across recordings.
    const readme = existsSync(join(dir, 'README.md')) ? readFileSync(join(dir, 'README.md'), 'utf8') : undefined;
    const cluster = await buildCalicoCluster(`ndcar${mode.slice(0, 1)}`, mode);
    try {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      recordCluster(cluster, dir);
      for (const node of Object.keys(cluster.nodes)) {
        mkdirSync(join(dir, 'nodes', node, 'cni'), { recursive: true });
        writeFileSync(join(dir, 'nodes', node, 'cni', '10-calico.conflist'), cluster.conflist);
      }
    } finally {
      await cluster.teardown();
    }
    if (mode === 'ipip') addTunl0(dir);
    if (readme !== undefined) writeFileSync(join(dir, 'README.md'), readme);
    const state = loadRecordedCluster(dir);
    expect(Object.keys(state.netns.pods).sort()).toEqual(['default/pod1', 'default/pod2', 'default/pod3', 'default/pod4']);
  }, 60_000);
});
