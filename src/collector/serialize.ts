// The snapshot as JSON text in pieces, so that a sink can write or compress it without ever
// holding the whole text (a node with large rule sets makes snapshots of tens of MiB). Large JSON
// dumps kept as text (RawJson) are written as they are. The pieces joined parse to the same value
// as JSON.stringify(snapshot). Pure code.

/**
 * Containers nested deeper than this are stringified whole; shallower ones piece by piece. Deep
 * enough to cut a namespace's nftables ruleset (snapshot > namespaces > [i] > netstack > nftables
 * > data > nftables > [rule]) into its rules, so no piece is more than a few KiB.
 */
const SPLIT_DEPTH = 8;

import { RawJson } from './raw-json.js';

/** A piece of the JSON text: a string, or the bytes of a raw dump (UTF-8). */
export type JsonPiece = string | Buffer;

function* pieces(value: unknown, depth: number): Generator<JsonPiece> {
  if (value instanceof RawJson) {
    yield value.bytes;
    return;
  }
  if (depth >= SPLIT_DEPTH || value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    let first = true;
    for (const element of value as unknown[]) {
      if (!first) yield ',';
      first = false;
      // JSON.stringify writes null for undefined, functions and symbols in arrays.
      if (element === undefined || typeof element === 'function' || typeof element === 'symbol') yield 'null';
      else yield* pieces(element, depth + 1);
    }
    yield ']';
    return;
  }
  yield '{';
  let first = true;
  for (const [key, element] of Object.entries(value)) {
    if (element === undefined || typeof element === 'function' || typeof element === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    yield* pieces(element, depth + 1);
  }
  yield '}';
}

/** The JSON text of `value` in pieces (their concatenation parses as JSON.stringify(value) does). */
export function jsonPieces(value: unknown): Generator<JsonPiece> {
  return pieces(value, 0);
}

/** The pieces with the strings gathered into strings of about `size` characters (fewer, larger writes). */
export function* jsonBatches(value: unknown, size = 1 << 18): Generator<JsonPiece> {
  let batch = '';
  for (const piece of pieces(value, 0)) {
    if (typeof piece !== 'string') {
      if (batch !== '') yield batch;
      batch = '';
      yield piece;
      continue;
    }
    batch += piece;
    if (batch.length >= size) {
      yield batch;
      batch = '';
    }
  }
  if (batch !== '') yield batch;
}
