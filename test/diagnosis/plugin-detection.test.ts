// Auto-detection on every recorded fixture: each cluster's own CNI configuration names its plugin;
// a cluster without one is judged by the generic plugin, and says why.
import { expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { detectPlugin } from '../../src/diagnosis/index.js';
import { loadRecordedCluster } from '../support/recorded-cluster.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

it.each([
  ['flannel-vxlan', 'flannel', '/etc/cni/net.d/10-flannel.conflist on node1 (type flannel)'],
  ['flannel-host-gw', 'flannel', '/etc/cni/net.d/10-flannel.conflist on node1 (type flannel)'],
  ['calico-bgp', 'calico', '/etc/cni/net.d/10-calico.conflist on node1 (type calico)'],
  ['calico-vxlan', 'calico', '/etc/cni/net.d/10-calico.conflist on node1 (type calico)'],
  ['calico-ipip', 'calico', '/etc/cni/net.d/10-calico.conflist on node1 (type calico)'],
  ['bridge', 'bridge', '/etc/cni/net.d/10-bridge.conflist on node1 (type bridge)'],
  ['mini-cluster', 'generic', 'no CNI configuration or DaemonSet of a known plugin'],
])('%s: %s', (name, plugin, evidence) => {
  const choice = detectPlugin(loadRecordedCluster(fixture(name)));
  expect({ name: choice.name, first: choice.evidence[0], warnings: choice.warnings }).toEqual({ name: plugin, first: evidence, warnings: [] });
});
