// One table of NetworkDiagnosis specs, valid and not, with what the API server and validate.ts
// each say about them. test/api/crd.test.ts runs it against a real API server with the CRD;
// src/api/v1alpha1/validate.test.ts against validateSpec. Together they keep the two in step.
import { MESSAGES } from '../../src/api/v1alpha1/validate.js';

export interface Refusal {
  /** The field both name. */
  readonly field: string;
  /** The API server's message for that field (a Status cause's message), exactly. */
  readonly server: string;
  /** validateSpec's message for that field, exactly. */
  readonly message: string;
}

export interface SpecCase {
  readonly name: string;
  readonly spec: unknown;
  /** Empty: accepted. */
  readonly refused: readonly Refusal[];
}

const cel = (field: string, message: string): Refusal => ({ field, server: `Invalid value: "object": ${message}`, message });
const celString = (field: string, message: string): Refusal => ({ field, server: `Invalid value: "string": ${message}`, message });

const pod = { pod: { name: 'web-0' } };
const base = { source: pod, destination: { service: { name: 'web' } }, port: 80, protocol: 'TCP' };

export const SPEC_CASES: readonly SpecCase[] = [
  // Valid shapes.
  { name: 'pod to service on TCP', spec: base, refused: [] },
  { name: 'pod in another namespace to pod on UDP', spec: { source: { pod: { namespace: 'team-a', name: 'client' } }, destination: { pod: { namespace: 'team-b', name: 'dns-0' } }, port: 53, protocol: 'UDP' }, refused: [] },
  { name: 'node to node, ICMP without a port', spec: { source: { node: { name: 'node-1' } }, destination: { node: { name: 'node-2.example.com' } }, protocol: 'ICMP' }, refused: [] },
  { name: 'IPv4 to IPv6', spec: { source: { ip: '10.244.1.5' }, destination: { ip: '2001:db8::1' }, port: 443, protocol: 'TCP' }, refused: [] },
  { name: 'IPv6 with an embedded IPv4 tail (not mapped)', spec: { ...base, destination: { ip: '64:ff9b::192.0.2.1' } }, refused: [] },
  { name: 'pod to external IP, highest port', spec: { source: pod, destination: { ip: '192.0.2.10' }, port: 65535, protocol: 'TCP' }, refused: [] },
  { name: 'network override and interval', spec: { ...base, network: { plugin: 'flannel', provider: 'generic' }, interval: '5m' }, refused: [] },
  { name: 'interval of 1h30m', spec: { ...base, network: { plugin: 'auto' }, interval: '1h30m' }, refused: [] },
  { name: 'interval of exactly 60s', spec: { ...base, interval: '60s' }, refused: [] },
  // Endpoints.
  { name: 'source with nothing set', spec: { ...base, source: {} }, refused: [cel('spec.source', MESSAGES.sourceExactlyOne)] },
  { name: 'source with pod and ip', spec: { ...base, source: { pod: { name: 'a' }, ip: '10.0.0.1' } }, refused: [cel('spec.source', MESSAGES.sourceExactlyOne)] },
  { name: 'service as the source', spec: { ...base, source: { service: { name: 'web' } } }, refused: [cel('spec.source', MESSAGES.serviceOnlyDestination)] },
  { name: 'destination with nothing set', spec: { ...base, destination: {} }, refused: [cel('spec.destination', MESSAGES.destinationExactlyOne)] },
  { name: 'destination with service and node', spec: { ...base, destination: { service: { name: 'web' }, node: { name: 'node-1' } } }, refused: [cel('spec.destination', MESSAGES.destinationExactlyOne)] },
  { name: 'destination that is not an IP', spec: { ...base, destination: { ip: 'example.com' } }, refused: [celString('spec.destination.ip', MESSAGES.ip)] },
  { name: 'IP with a prefix length', spec: { ...base, destination: { ip: '10.0.0.0/8' } }, refused: [celString('spec.destination.ip', MESSAGES.ip)] },
  { name: 'IPv4 with leading zeros', spec: { ...base, source: { ip: '010.1.2.3' } }, refused: [celString('spec.source.ip', MESSAGES.ip)] },
  { name: 'IPv6 with a zone', spec: { ...base, destination: { ip: 'fe80::1%eth0' } }, refused: [celString('spec.destination.ip', MESSAGES.ip)] },
  { name: 'IPv4-mapped IPv6', spec: { ...base, destination: { ip: '::ffff:10.0.0.1' } }, refused: [celString('spec.destination.ip', MESSAGES.ip)] },
  { name: 'IPv4-mapped IPv6 written in hex', spec: { ...base, destination: { ip: '::ffff:102:304' } }, refused: [celString('spec.destination.ip', MESSAGES.ip)] },
  { name: 'IPv6 of six groups and an IPv4 tail', spec: { ...base, destination: { ip: '1:2:3:4:5:6:1.2.3.4' } }, refused: [] },
  { name: 'pod name in capitals', spec: { ...base, source: { pod: { name: 'Web' } } }, refused: [celString('spec.source.pod.name', MESSAGES.subdomainName)] },
  { name: 'namespace with a dot', spec: { ...base, source: { pod: { namespace: 'a.b', name: 'web' } } }, refused: [celString('spec.source.pod.namespace', MESSAGES.namespace)] },
  { name: 'service name starting with a digit', spec: { ...base, destination: { service: { name: '1web' } } }, refused: [celString('spec.destination.service.name', MESSAGES.serviceName)] },
  { name: 'pod without a name', spec: { ...base, source: { pod: { namespace: 'default' } } }, refused: [{ field: 'spec.source.pod.name', server: 'Required value', message: 'name is required' }] },
  { name: 'no destination', spec: { source: pod, port: 80, protocol: 'TCP' }, refused: [{ field: 'spec.destination', server: 'Required value', message: 'destination is required' }] },
  // Port and protocol.
  { name: 'TCP without a port', spec: { source: pod, destination: { ip: '10.0.0.1' }, protocol: 'TCP' }, refused: [{ field: 'spec.port', server: `Required value: ${MESSAGES.portRequired}`, message: MESSAGES.portRequired }] },
  { name: 'UDP without a port', spec: { source: pod, destination: { ip: '10.0.0.1' }, protocol: 'UDP' }, refused: [{ field: 'spec.port', server: `Required value: ${MESSAGES.portRequired}`, message: MESSAGES.portRequired }] },
  { name: 'ICMP with a port', spec: { ...base, protocol: 'ICMP' }, refused: [cel('spec.port', MESSAGES.portWithIcmp)] },
  { name: 'port 0', spec: { ...base, port: 0 }, refused: [{ field: 'spec.port', server: 'Invalid value: 0: spec.port in body should be greater than or equal to 1', message: 'port must be an integer from 1 to 65535' }] },
  { name: 'port 65536', spec: { ...base, port: 65536 }, refused: [{ field: 'spec.port', server: 'Invalid value: 65536: spec.port in body should be less than or equal to 65535', message: 'port must be an integer from 1 to 65535' }] },
  { name: 'protocol SCTP', spec: { ...base, protocol: 'SCTP' }, refused: [{ field: 'spec.protocol', server: 'Unsupported value: "SCTP": supported values: "TCP", "UDP", "ICMP"', message: 'protocol must be one of TCP, UDP, ICMP' }] },
  { name: 'no protocol', spec: { source: pod, destination: { ip: '10.0.0.1' }, port: 80 }, refused: [{ field: 'spec.protocol', server: 'Required value', message: 'protocol is required' }] },
  // Network and interval.
  { name: 'unknown plugin', spec: { ...base, network: { plugin: 'cilium' } }, refused: [{ field: 'spec.network.plugin', server: 'Unsupported value: "cilium": supported values: "auto", "generic", "flannel", "calico", "bridge"', message: 'plugin must be one of auto, generic, flannel, calico, bridge' }] },
  { name: 'unknown provider', spec: { ...base, network: { provider: 'aws' } }, refused: [{ field: 'spec.network.provider', server: 'Unsupported value: "aws": supported values: "generic"', message: 'provider must be one of generic' }] },
  { name: 'interval that is not a duration', spec: { ...base, interval: 'hourly' }, refused: [celString('spec.interval', MESSAGES.intervalFormat)] },
  { name: 'interval with a unit Go has but the CRD does not', spec: { ...base, interval: '1500ms' }, refused: [celString('spec.interval', MESSAGES.intervalFormat)] },
  { name: 'interval under a minute', spec: { ...base, interval: '30s' }, refused: [celString('spec.interval', MESSAGES.intervalMinimum)] },
];
