// Condition types and reasons of a NetworkDiagnosis (metav1.Condition). Events use the same reasons.
// Ready says the diagnosis finished, whatever the verdict; a broken network is a verdict
// (Reachable=False), never Ready=False.

/** The diagnosis finished (True), whatever the verdict; False while it runs or when it cannot run. */
export const CONDITION_READY = 'Ready';
/** The verdict: True when the destination is reachable, False when not, Unknown when inconclusive. */
export const CONDITION_REACHABLE = 'Reachable';
/** True while the operator works on the current spec (collecting, diagnosing). */
export const CONDITION_RECONCILING = 'Reconciling';
/** True when the diagnosis cannot run until something changes (bad spec, missing object); not retried. */
export const CONDITION_STALLED = 'Stalled';

export type ConditionType = typeof CONDITION_READY | typeof CONDITION_REACHABLE | typeof CONDITION_RECONCILING | typeof CONDITION_STALLED;

/** Collector pods are being started or awaited on the nodes the packet crosses. */
export const REASON_COLLECTING = 'Collecting';
/** The snapshots are in; the packet is being simulated. */
export const REASON_DIAGNOSING = 'Diagnosing';
/** The diagnosis finished and the status holds its verdict. */
export const REASON_COMPLETED = 'Completed';
/** The diagnosis waits to be picked up (nothing has been done for this generation yet). */
export const REASON_PENDING = 'Pending';
/** The packet reaches the destination and its reply comes back. */
export const REASON_REACHABLE = 'Reachable';
/** The packet or its reply is dropped; the suspicions say where and why. */
export const REASON_UNREACHABLE = 'Unreachable';
/** The packet gets through, but something on the way is wrong (an MTU mismatch, a stale rule). */
export const REASON_DEGRADED = 'Degraded';
/** The engine could not decide (missing snapshot, unsupported configuration); the warnings say what. */
export const REASON_INCONCLUSIVE = 'Inconclusive';
/** The spec is invalid (it got past the CRD's validation: an older CRD or a disabled check). */
export const REASON_INVALID_SPEC = 'InvalidSpec';
/** The source or destination names a pod, service or node that does not exist. */
export const REASON_OBJECT_NOT_FOUND = 'ObjectNotFound';
/** The spec references an object in another namespace and the operator does not allow that. */
export const REASON_CROSS_NAMESPACE_FORBIDDEN = 'CrossNamespaceForbidden';
/** A collector pod failed or missed its deadline; the collectors list says which and why. */
export const REASON_COLLECTOR_FAILED = 'CollectorFailed';
/** Reachable=Unknown: no verdict for the current spec yet (the diagnosis has not finished since the spec changed). */
export const REASON_NOT_DIAGNOSED = 'NotDiagnosed';
/** The diagnosis could not finish for a reason not covered by a more specific one. */
export const REASON_FAILED = 'Failed';
