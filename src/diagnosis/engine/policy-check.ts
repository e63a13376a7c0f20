// NetworkPolicy for the connections a diagnosis delivers. The verdict follows the kernel's state
// (the rules a policy agent programmed are in the dumps the walk already crossed); this says what
// the policies themselves decide, so that a policy that should drop the connection but does not
// (not enforced, not yet programmed, or enforced outside iptables) is named.

import { assertNever } from '../model/assert-never.js';
import type { Suspicion } from '../model/diagnosis.js';
import { formatIp, type IpAddress } from '../model/ip.js';
import type { Packet } from '../model/packet.js';
import type { Warning } from '../model/warning.js';
import { ownsAddress } from '../plugins/netns-state.js';
import type { NetnsRef, Plugin } from '../plugins/plugin.js';
import { evaluateNetworkPolicies, type DirectionDecision, type PolicyPeer } from '../policy/network-policy.js';
import type { WalkContext } from './walk.js';

const PROTOCOLS = { tcp: 'TCP', udp: 'UDP', icmp: 'ICMP' } as const;

/** Who `ip` is to NetworkPolicy; an address of a node's interface (a bridge after SNAT) is that node. */
function peerOf(ctx: WalkContext, ip: IpAddress, nearby: readonly NetnsRef[]): PolicyPeer {
  const owner = ctx.ipCache.lookup(ip);
  if (owner.kind === 'pod') return { kind: 'pod', pod: owner.pod };
  if (owner.kind === 'node') return { kind: 'node', name: owner.name };
  const node = nearby.find((ref) => ref.type === 'node' && ownsAddress(ref.state, ip));
  return node !== undefined ? { kind: 'node', name: node.id } : { kind: 'address' };
}

/** Whether the cluster's plugins enforce NetworkPolicy: true, false, or unknown (generic only). */
function enforcement(plugins: readonly Plugin[]): { enforced: boolean | undefined; by: string } {
  const enforcing = plugins.find((p) => p.enforcesNetworkPolicy === true);
  if (enforcing !== undefined) return { enforced: true, by: enforcing.name };
  const not = plugins.find((p) => p.enforcesNetworkPolicy === false);
  return not !== undefined ? { enforced: false, by: not.name } : { enforced: undefined, by: 'generic' };
}

function deniedSuspicion(ctx: WalkContext, direction: 'egress' | 'ingress', pod: string, decision: Extract<DirectionDecision, { kind: 'denied' }>, what: string): Suspicion {
  const { enforced, by } = enforcement(ctx.plugins);
  const policies = decision.isolatedBy.map((p) => `NetworkPolicy ${p}`).join(', ');
  const base = `${policies} ${decision.isolatedBy.length === 1 ? 'isolates' : 'isolate'} pod ${pod} for ${direction} and no rule of ${decision.isolatedBy.length === 1 ? 'it' : 'them'} allows ${what}`;
  if (enforced === true) {
    return { level: 'warning', node: pod, code: 'NetworkPolicyDenied', message: `${base}, yet the rules on the path let it through: ${by} has not programmed the policy (or programs it outside iptables)` };
  }
  if (enforced === false) return { level: 'info', node: pod, code: 'NetworkPolicyDenied', message: `${base}; ${by} does not enforce NetworkPolicy, so nothing on the path drops it` };
  return { level: 'warning', node: pod, code: 'NetworkPolicyDenied', message: `${base}; nothing on the path drops it, and whether an agent enforces NetworkPolicy outside iptables is not known` };
}

/** Suspicions and warnings of the NetworkPolicies for a request from the client delivered to `at` as `packet`. */
export function networkPolicyFindings(ctx: WalkContext, at: NetnsRef, packet: Packet): { suspicions: Suspicion[]; warnings: Warning[] } {
  const suspicions: Suspicion[] = [];
  const warnings: Warning[] = [];
  if (ctx.cluster.objects.networkPolicies.length === 0) return { suspicions, warnings };
  const client = ctx.client;
  const nearby = [client.netns, at, ...[client.netns.nodeName, at.nodeName].map((n) => ctx.nodes.get(n)).filter((r): r is NetnsRef => r !== undefined)];
  const destination = peerOf(ctx, packet.dst, nearby);
  const protocol = PROTOCOLS[packet.protocol];
  const what = `${packet.protocol.toUpperCase()} from ${formatIp(client.packet.src)} to ${formatIp(packet.dst)}${packet.protocol === 'icmp' ? '' : `:${packet.dport}`}`;
  // Egress with the client's own address, ingress with the source the destination sees (after any SNAT).
  const egress = evaluateNetworkPolicies(ctx.cluster.objects, { source: peerOf(ctx, client.packet.src, nearby), sourceIp: client.packet.src, destination, destinationIp: packet.dst, port: packet.dport, protocol }).egress;
  const ingress = evaluateNetworkPolicies(ctx.cluster.objects, { source: peerOf(ctx, packet.src, nearby), sourceIp: packet.src, destination, destinationIp: packet.dst, port: packet.dport, protocol }).ingress;
  for (const [direction, decision, pod] of [['egress', egress, client.netns.id], ['ingress', ingress, at.id]] as const) {
    switch (decision.kind) {
      case 'denied':
        suspicions.push(deniedSuspicion(ctx, direction, pod, decision, what));
        break;
      case 'unknown':
        warnings.push(...decision.warnings);
        break;
      case 'not-isolated':
      case 'exempt':
      case 'allowed':
        break;
      default:
        assertNever(decision, 'policy decision');
    }
  }
  return { suspicions, warnings };
}
