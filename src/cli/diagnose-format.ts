// The output of `netdiag diagnose`: for a person, the path hop by hop (request, then reply) and the
// suspicions as a table; for a program, one JSON object.

import type { Diagnosis, NetNodeAction, PathLink, PluginChoice, QueryEndpoint, Suspicion, Warning } from '../diagnosis/index.js';
import type { DiagnoseRequest } from './diagnose-args.js';

export function endpointText(e: QueryEndpoint): string {
  switch (e.kind) {
    case 'pod':
      return `pod/${e.namespace}/${e.name}`;
    case 'service':
      return `svc/${e.namespace}/${e.name}`;
    case 'node':
      return `node/${e.name}`;
    case 'ip':
      return e.ip;
  }
}

const LEVEL_ORDER: Readonly<Record<Suspicion['level'], number>> = { fatal: 0, critical: 1, warning: 2, info: 3 };

function actionText(a: NetNodeAction): string {
  switch (a.kind) {
    case 'send':
      return `send${a.outIface !== undefined ? ` out of ${a.outIface}` : ''}: ${a.verdict}`;
    case 'receive':
      return `in on ${a.iif}${a.outIface !== undefined ? `, out of ${a.outIface}` : ''}: ${a.verdict}`;
    case 'bridge':
      return `bridged by ${a.bridge} from ${a.inPort} to ${a.outPort}`;
    case 'nat':
      return `${a.nat} ${a.before} -> ${a.after}${a.rule !== undefined ? ` (${a.rule})` : ''}`;
    case 'deliver':
      return `delivered to ${a.socket}`;
  }
}

function linkText(l: PathLink): string {
  const from = l.attributes.sourceInterface !== undefined ? `${l.source} ${l.attributes.sourceInterface}` : l.source;
  const to = l.attributes.destinationInterface !== undefined ? `${l.destination} ${l.attributes.destinationInterface}` : l.destination;
  const extra = Object.entries(l.attributes)
    .filter(([k]) => k !== 'sourceInterface' && k !== 'destinationInterface')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${from} --${l.type}--> ${to}   ${l.packet.after}${extra !== '' ? `   [${extra}]` : ''}`;
}

function pathSection(d: Diagnosis, direction: 'request' | 'reply'): string[] {
  const links = d.packetPath.links.filter((l) => l.direction === direction);
  const nodes = d.packetPath.nodes.filter((n) => n.actions.some((a) => a.direction === direction));
  if (nodes.length === 0) return [];
  const lines = [`${direction === 'request' ? 'Request' : 'Reply'}:`];
  for (const node of nodes) {
    lines.push(`  ${node.id} (${node.type})`);
    for (const a of node.actions) if (a.direction === direction) lines.push(`      ${actionText(a)}`);
    for (const l of links) if (l.source === node.id) lines.push(`    ${linkText(l)}`);
  }
  return lines;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (i === r.length - 1 ? 0 : (r[i] ?? '').length)))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

export function formatDiagnoseText(request: DiagnoseRequest, d: Diagnosis, plugin: PluginChoice, inputWarnings: readonly Warning[]): string {
  const port = request.protocol === 'ICMP' ? '' : `/${request.port}`;
  const lines = [
    `${endpointText(request.source)} -> ${endpointText(request.destination)} ${request.protocol}${port}: ${d.verdict}`,
    `plugin: ${plugin.name} (${plugin.how}${plugin.evidence.length > 0 ? `: ${plugin.evidence.join(', ')}` : ''})`,
    '',
  ];
  const request_ = pathSection(d, 'request');
  const reply = pathSection(d, 'reply');
  if (request_.length > 0) lines.push(...request_, '');
  if (reply.length > 0) lines.push(...reply, '');
  const suspicions = [...d.suspicions].sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level]);
  if (suspicions.length === 0) lines.push('Suspicions: none', '');
  else lines.push('Suspicions:', ...table([['LEVEL', 'NODE', 'CODE', 'MESSAGE'], ...suspicions.map((s) => [s.level, s.node, s.code, s.message])]).map((l) => `  ${l}`), '');
  const warnings = [...inputWarnings, ...plugin.warnings, ...d.warnings];
  if (warnings.length > 0) lines.push('Warnings:', ...warnings.map((w) => `  - ${w.message}${w.source !== undefined ? ` (${w.source})` : ''}`), '');
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The result object, with the query and the plugin it was judged by. */
export function diagnoseJson(request: DiagnoseRequest, d: Diagnosis, plugin: PluginChoice, inputWarnings: readonly Warning[]): object {
  return {
    query: {
      source: request.source,
      destination: request.destination,
      port: request.port,
      protocol: request.protocol,
      ...(request.sourcePort !== undefined ? { sourcePort: request.sourcePort } : {}),
    },
    plugin: { name: plugin.name, how: plugin.how, evidence: plugin.evidence },
    verdict: d.verdict,
    suspicions: d.suspicions,
    packetPath: d.packetPath,
    warnings: [...inputWarnings, ...plugin.warnings, ...d.warnings],
  };
}
