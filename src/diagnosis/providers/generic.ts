// The generic provider: knows nothing of the infrastructure. It checks nothing beyond the nodes,
// and says so once per diagnosis whose path crosses it, so that a Reachable verdict is read as
// "reachable as far as the nodes are concerned".

import type { Suspicion } from '../model/diagnosis.js';
import type { Provider, UnderlayCrossing } from './provider.js';

function describe(c: UnderlayCrossing): string {
  return `${c.link.source} -> ${c.to.kind === 'node' ? c.to.name : c.to.address} (${c.link.type})`;
}

export const genericProvider: Provider = {
  name: 'generic',
  infra: {
    checkCrossings(_cluster, crossings): Suspicion[] {
      if (crossings.length === 0) return [];
      const first = crossings[0];
      if (first === undefined) return [];
      const shown = [...new Set(crossings.map(describe))];
      return [
        {
          level: 'info',
          node: first.link.source,
          code: 'UnsupportedConfig',
          message: `the network between and beyond the nodes is not checked (generic provider: no security groups, route tables or firewalls of the infrastructure are known) for ${shown.join(', ')}`,
        },
      ];
    },
  },
};
