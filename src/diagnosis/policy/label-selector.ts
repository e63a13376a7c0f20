// Label selector matching (metav1.LabelSelector): every matchLabels pair and every
// matchExpressions requirement must hold; an empty selector selects everything. NotIn and
// DoesNotExist hold for an object without the key, as in the API machinery's selectors.
//
// The labels may be incomplete (a namespace whose object is not in the snapshot: only its
// automatic `kubernetes.io/metadata.name` label is known). A requirement on a key that is not known
// then has no answer, and neither has the selector unless another requirement already fails.

import type { LabelSelector, LabelSelectorOperator, LabelSelectorRequirement } from '../model/kube-objects.js';
import { assertNever } from '../model/assert-never.js';

export type SelectorMatch =
  | { readonly kind: 'match' }
  | { readonly kind: 'no-match' }
  /** The answer depends on these labels, which are not known. */
  | { readonly kind: 'unknown'; readonly keys: readonly string[] }
  /** A selector the API server would have rejected (an unknown operator, values where none belong). */
  | { readonly kind: 'invalid'; readonly reason: string };

interface KnownLabels {
  readonly labels: Readonly<Record<string, string>>;
  readonly complete: boolean;
}

const OPERATORS: ReadonlySet<string> = new Set<LabelSelectorOperator>(['In', 'NotIn', 'Exists', 'DoesNotExist']);

function isOperator(text: string): text is LabelSelectorOperator {
  return OPERATORS.has(text);
}

/** Why a requirement is malformed, or undefined when it is well formed. */
function requirementError(r: LabelSelectorRequirement): string | undefined {
  const operator: string = r.operator;
  if (!isOperator(operator)) return `unknown operator ${JSON.stringify(operator)} for key ${JSON.stringify(r.key)}`;
  const count = r.values?.length ?? 0;
  switch (operator) {
    case 'In':
    case 'NotIn':
      return count === 0 ? `${operator} on key ${JSON.stringify(r.key)} has no values` : undefined;
    case 'Exists':
    case 'DoesNotExist':
      return count > 0 ? `${operator} on key ${JSON.stringify(r.key)} has values` : undefined;
    default:
      return assertNever(operator, 'label selector operator');
  }
}

/** Whether one requirement holds: true, false, or undefined when its key is not known. */
function holds(operator: LabelSelectorOperator, key: string, values: readonly string[], known: KnownLabels): boolean | undefined {
  const present = Object.hasOwn(known.labels, key);
  if (!present && !known.complete) return undefined;
  const value = present ? known.labels[key] : undefined;
  switch (operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    default:
      return assertNever(operator, 'label selector operator');
  }
}

/**
 * Matches `selector` against an object's labels. `complete: false` says that only the labels given
 * are known: the object may have others, so a requirement on another key has no answer.
 */
export function matchLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined, complete = true): SelectorMatch {
  const known: KnownLabels = { labels: labels ?? {}, complete };
  const expressions = selector.matchExpressions ?? [];
  for (const r of expressions) {
    const error = requirementError(r);
    if (error !== undefined) return { kind: 'invalid', reason: error };
  }
  const unknownKeys: string[] = [];
  // False if the requirement fails; an unanswerable one is remembered and does not stop the walk,
  // since a later failing requirement still decides.
  const passes = (result: boolean | undefined, key: string): boolean => {
    if (result === false) return false;
    if (result === undefined && !unknownKeys.includes(key)) unknownKeys.push(key);
    return true;
  };
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!passes(holds('In', key, [value], known), key)) return { kind: 'no-match' };
  }
  for (const r of expressions) {
    if (!passes(holds(r.operator, r.key, r.values ?? [], known), r.key)) return { kind: 'no-match' };
  }
  return unknownKeys.length > 0 ? { kind: 'unknown', keys: unknownKeys } : { kind: 'match' };
}
