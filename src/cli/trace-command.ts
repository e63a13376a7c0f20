// `netdiag trace`: one packet through one host's dumps, printed as a trace or as JSON.

import {
  buildHostFromDumps,
  buildPacket,
  isDumpParseError,
  parseIp,
  traceHost,
  type Dump,
  type HostTraceResult,
  type IpAddress,
} from '../diagnosis/index.js';
import { CliError } from './cli-error.js';
import { readInputFile } from './read-input.js';
import { parseTraceArgs, type TraceRequest } from './trace-args.js';
import { formatTraceText, traceJson } from './trace-format.js';

export { TRACE_USAGE } from './trace-args.js';

function dumpOf(path: string | undefined, flag: string): Dump | undefined {
  return path === undefined ? undefined : { text: readInputFile(path, flag), source: path };
}

function address(text: string): IpAddress {
  const ip = parseIp(text);
  // parseTraceArgs has checked every address already.
  if (ip === undefined) throw new CliError(`not an IP address: ${text}`);
  return ip;
}

export function runTraceRequest(request: TraceRequest): HostTraceResult {
  const src = address(request.src);
  const dst = address(request.dst);
  if (src.family !== dst.family) throw new CliError(`--src ${request.src} and --dst ${request.dst} are of different IP families`);
  const iptablesSave = dumpOf(request.iptablesSaveFile, '--iptables-save');
  if (iptablesSave === undefined) throw new CliError('missing --iptables-save');
  const ipsetSave = dumpOf(request.ipsetFile, '--ipset');
  const routes = dumpOf(request.routesFile, '--routes');
  const rules = dumpOf(request.rulesFile, '--rules');
  const links = dumpOf(request.linksFile, '--links');
  const addresses = dumpOf(request.addressesFile, '--addresses');
  const sysctls = dumpOf(request.sysctlsFile, '--sysctls');
  let host;
  try {
    host = buildHostFromDumps(
      {
        iptablesSave,
        ...(ipsetSave !== undefined ? { ipsetSave } : {}),
        ...(routes !== undefined ? { routes } : {}),
        ...(rules !== undefined ? { rules } : {}),
        ...(links !== undefined ? { links } : {}),
        ...(addresses !== undefined ? { addresses } : {}),
        ...(sysctls !== undefined ? { sysctls } : {}),
        localAddresses: request.localIps.map(address),
        family: src.family,
      },
      [request.iif, request.oif].filter((d): d is string => d !== undefined),
    );
  } catch (error) {
    if (isDumpParseError(error)) throw new CliError(error.message, 1, { cause: error });
    throw error;
  }
  const packet = buildPacket({
    protocol: request.protocol,
    src,
    dst,
    sport: request.sport,
    dport: request.dport,
    mark: request.mark,
    ctState: request.ctState,
  });
  const result = traceHost(host.input, {
    packet,
    ...(request.iif !== undefined ? { iif: request.iif } : {}),
    ...(request.oif !== undefined ? { oif: request.oif } : {}),
  });
  return { ...result, warnings: [...host.warnings, ...result.warnings] };
}

export function runTrace(args: string[]): number {
  const request = parseTraceArgs(args);
  const result = runTraceRequest(request);
  process.stdout.write(request.json ? `${JSON.stringify(traceJson(result), null, 2)}\n` : formatTraceText(request, result));
  return 0;
}
