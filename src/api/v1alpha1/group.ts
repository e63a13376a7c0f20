// The API group, version and names of the NetworkDiagnosis resource (crds/netdiag.io_networkdiagnoses.yaml).

/** The API group of every netdiag resource. */
export const GROUP = 'netdiag.io';
/** The version these types describe. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of a NetworkDiagnosis: group/version. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The kind of the resource. */
export const KIND = 'NetworkDiagnosis';
/** The kind of a list of them. */
export const LIST_KIND = 'NetworkDiagnosisList';
/** The plural resource name used in API paths. */
export const PLURAL = 'networkdiagnoses';
/** The singular resource name. */
export const SINGULAR = 'networkdiagnosis';
/** `kubectl get netdiag`. */
export const SHORT_NAME = 'netdiag';
/** The CustomResourceDefinition's name: plural.group. */
export const CRD_NAME = `${PLURAL}.${GROUP}`;
/** An annotation whose change (any new value) runs the diagnosis again. */
export const ANNOTATION_REQUESTED_AT = `${GROUP}/requested-at`;
