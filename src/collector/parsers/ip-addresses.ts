// The addresses a namespace holds, from `ip -j address show`: what matches a pod to its namespace
// when the container runtime cannot say. Pure code.

import { formatIp, parseIp } from '../../diagnosis/index.js';

/** An address in its canonical text form (RFC 5952 for IPv6), or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text.trim());
  return ip === undefined ? undefined : formatIp(ip);
}

/**
 * The global and site addresses of `ip -j address show` output (scope host and link left out:
 * every namespace has 127.0.0.1 and fe80::/64 addresses), canonical, deduplicated, in order.
 * Anything that is not the expected shape is ignored.
 */
export function globalAddressesOf(data: unknown): string[] {
  const found = new Set<string>();
  if (!Array.isArray(data)) return [];
  for (const link of data as unknown[]) {
    const infos = typeof link === 'object' && link !== null ? (link as { addr_info?: unknown }).addr_info : undefined;
    if (!Array.isArray(infos)) continue;
    for (const info of infos as unknown[]) {
      if (typeof info !== 'object' || info === null) continue;
      const { local, scope } = info as { local?: unknown; scope?: unknown };
      if (typeof local !== 'string' || scope === 'host' || scope === 'link') continue;
      const ip = canonicalIp(local);
      if (ip !== undefined) found.add(ip);
    }
  }
  return [...found];
}
