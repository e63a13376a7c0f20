// The generic provider's note (it checks nothing between the nodes, and says so on every path that
// crosses them): tests of a plugin's or the walk's own findings leave it aside; the provider's own
// test asserts it.
import type { Suspicion } from '../../src/diagnosis/index.js';

export function isProviderNote(s: Suspicion): boolean {
  return s.level === 'info' && s.code === 'UnsupportedConfig' && s.message.startsWith('the network between and beyond the nodes is not checked (generic provider');
}

export function withoutProviderNote(suspicions: readonly Suspicion[]): Suspicion[] {
  return suspicions.filter((s) => !isProviderNote(s));
}
