// The host trace of a namespace on the path, for the walk and for the plugins that trace a packet
// of their own (a masquerade check). Rule lines are parsed as a trace first enters each chain, so a
// malformed line surfaces during a trace: it is raised as the namespace's unreadable dumps, which
// diagnose() reports as an Inconclusive diagnosis naming the namespace, dump and line.

import { traceHost, type HostTraceQuery, type HostTraceResult } from '../netstack/host-trace.js';
import { isDumpParseError } from '../netstack/parse-errors.js';
import type { NetnsRef } from './plugin.js';

/** The dumps of a namespace could not be parsed: `cause` is the parser's error, naming dump and line. */
export class NetnsUnreadableError extends Error {
  constructor(
    readonly netnode: string,
    cause: unknown,
  ) {
    super(`the dumps of ${netnode} cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'NetnsUnreadableError';
  }
}

export function traceNetns(at: NetnsRef, query: HostTraceQuery): HostTraceResult {
  try {
    return traceHost(at.state.trace, query);
  } catch (error) {
    if (isDumpParseError(error)) throw new NetnsUnreadableError(at.id, error);
    throw error;
  }
}
