// The lab's network modes, by the scenario's `network`.

import type { ScenarioNetwork } from '../scenario.js';
import { bridgeNetwork } from './bridge.js';
import { calicoNetwork } from './calico.js';
import { flannelNetwork } from './flannel.js';
import type { LabNetwork } from './types.js';

export type { LabNetwork, LabNodeContext, LabPeer, LabPodContext, LabPodNetwork, NodeNetwork } from './types.js';

/** A fresh network mode for one lab (it keeps cluster-wide state, such as calico's IPAM blocks). */
export function labNetwork(mode: ScenarioNetwork): LabNetwork {
  switch (mode) {
    case 'bridge':
      return bridgeNetwork();
    case 'flannel-hostgw':
      return flannelNetwork('host-gw');
    case 'flannel-vxlan':
      return flannelNetwork('vxlan');
    case 'calico-bgp':
      return calicoNetwork('bgp');
    case 'calico-vxlan':
      return calicoNetwork('vxlan');
    default: {
      // Exhaustive: a new mode is a compile error here (assertNever is internal to diagnosis/).
      const unhandled: never = mode;
      throw new Error(`unhandled network mode: ${JSON.stringify(unhandled)}`);
    }
  }
}
