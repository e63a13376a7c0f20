// Kubernetes Events (events.k8s.io/v1) about a NetworkDiagnosis, as `kubectl describe` and
// `kubectl events` show them: one Event per phase change, written in the diagnosis's namespace,
// reportingController `netdiag.io/operator`. One attempt with the usual transient retries; a
// failure is the caller's to log (an Event is never worth failing a reconcile for).

import { EventsV1Api, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../api/v1alpha1/group.js';
import { callApi, type RetryOptions } from './retry.js';

/** The reportingController of every Event netdiag writes. */
export const REPORTING_CONTROLLER = 'netdiag.io/operator';

/** events.k8s.io/v1 refuses a note longer than 1 kB. */
export const EVENT_NOTE_MAX = 1024;

export interface DiagnosisEvent {
  readonly regarding: { readonly namespace: string; readonly name: string; readonly uid?: string };
  readonly type: 'Normal' | 'Warning';
  /** A reason of api/v1alpha1/conditions.ts (Collecting, Completed, ObjectNotFound, CollectorFailed...). */
  readonly reason: string;
  /** What the operator did: Collect, Diagnose, Stall. */
  readonly action: string;
  readonly note: string;
}

export interface EventRecorder {
  record(event: DiagnosisEvent): Promise<void>;
}

function truncate(note: string): string {
  if (Buffer.byteLength(note) <= EVENT_NOTE_MAX) return note;
  let cut = note.slice(0, EVENT_NOTE_MAX - 3);
  while (Buffer.byteLength(cut) > EVENT_NOTE_MAX - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** Writes Events as `reportingInstance` (this replica's identity). */
export function createEventRecorder(config: KubeConfig, reportingInstance: string, retry: RetryOptions = {}, now: () => number = Date.now): EventRecorder {
  const api = config.makeApiClient(EventsV1Api);
  let sequence = 0;
  return {
    async record(event) {
      const { namespace, name, uid } = event.regarding;
      const at = now();
      sequence += 1;
      // Unique per Event, as client-go names them: the object's name and a time-based suffix.
      const eventName = `${name}.${at.toString(16)}${sequence.toString(16).padStart(4, '0')}`;
      await callApi(
        { description: `create event ${namespace}/${eventName}`, verb: 'create', resource: 'events.events.k8s.io', namespace },
        () =>
          api.createNamespacedEvent({
            namespace,
            body: {
              metadata: { name: eventName, namespace },
              eventTime: new V1MicroTime(at),
              reportingController: REPORTING_CONTROLLER,
              reportingInstance,
              action: event.action,
              reason: event.reason,
              type: event.type,
              note: truncate(event.note),
              regarding: { apiVersion: API_VERSION, kind: KIND, namespace, name, ...(uid !== undefined ? { uid } : {}) },
            },
          }),
        retry,
      );
    },
  };
}
