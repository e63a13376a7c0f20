// What a CNI plugin contributes to a diagnosis. The engine walks the packet by the kernel's state
// alone; a plugin adds what it knows of its own layout: devices and routes a netns must have,
// checks on each link the packet crosses, explanations of a failure, and the kind of its own
// devices (a tunnel the engine does not know). The generic plugin is always consulted.

import type { Direction, PathLinkType, Suspicion } from '../model/diagnosis.js';
import type { IpAddress } from '../model/ip.js';
import type { Packet } from '../model/packet.js';
import type { Link, RouteDecision } from '../netstack/routing/index.js';
import type { ClusterState } from './cluster-state.js';
import type { NetnsState } from './netns-state.js';

/** A network namespace on the path: a node's host namespace or a pod's. */
export interface NetnsRef {
  /** The netnode id: the node name, or `namespace/name` of the pod. */
  readonly id: string;
  readonly type: 'pod' | 'node';
  /** The node it is on. */
  readonly nodeName: string;
  readonly state: NetnsState;
}

/** Something a netns must have for the plugin's layout to work. */
export type Expectation =
  | { readonly kind: 'device'; readonly name: string; readonly why: string }
  | { readonly kind: 'route'; readonly dst: IpAddress; readonly why: string };

/** The pods and nodes the query is about (the ends of the path). */
export interface Subjects {
  readonly source?: NetnsRef;
  readonly destination?: NetnsRef;
  /** The request as the client sends it (before any NAT), when the engine passes it. */
  readonly packet?: Packet;
}

export interface HopContext {
  readonly cluster: ClusterState;
  readonly direction: Direction;
  readonly from: NetnsRef;
  readonly fromIface: string;
  readonly to: NetnsRef;
  readonly toIface: string;
  readonly type: PathLinkType;
  /** The next hop the sender resolved (gateway, else destination). */
  readonly nextHop: IpAddress;
  readonly packet: Packet;
}

/** Why the packet stopped at a netns. */
export type FailureCause =
  | { readonly kind: 'route'; readonly decision: RouteDecision }
  | { readonly kind: 'netfilter'; readonly table: string; readonly chain: string; readonly rule: string; readonly target: string }
  | { readonly kind: 'link'; readonly device: string; readonly reason: string };

export interface FailureContext {
  readonly cluster: ClusterState;
  readonly direction: Direction;
  readonly at: NetnsRef;
  readonly iif?: string;
  /** The packet as it was when it stopped (after any DNAT). */
  readonly packet: Packet;
  readonly cause: FailureCause;
}

export interface Plugin {
  readonly name: string;
  /**
   * Whether the CNI enforces NetworkPolicy (with rules the walk crosses): true, false, or
   * undefined when the plugin cannot know (another agent may).
   */
  readonly enforcesNetworkPolicy?: boolean;
  /** Devices and routes `at` must have; the engine checks them for every netns on the path. */
  expectations?(cluster: ClusterState, at: NetnsRef, subjects: Subjects): readonly Expectation[];
  /**
   * The plugin's own checks of a netns on the path (its devices, routes, neighbours, sysctls,
   * rules), for what the Expectation kinds cannot say; called once per netns on the path.
   */
  checkNetns?(cluster: ClusterState, at: NetnsRef, subjects: Subjects): readonly Suspicion[];
  /** Checks on a link the packet crosses (both ends known). */
  checkHop?(hop: HopContext): readonly Suspicion[];
  /** Further suspicions explaining a failure (the engine already reports the failure itself). */
  explainFailure?(failure: FailureContext): readonly Suspicion[];
  /** The path link type of an output device the engine does not know; undefined: not the plugin's. */
  classifyLink?(at: NetnsRef, link: Link): PathLinkType | undefined;
}
