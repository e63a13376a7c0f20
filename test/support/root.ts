// Tests that build network namespaces and load iptables need root. Elsewhere they are skipped with
// a message saying why; where root tests are required (CI sets NETDIAG_REQUIRE_ROOT_TESTS=1) a
// missing privilege is a failure, so a skipped suite can never pass for a green run.
import { describe, it } from '@jest/globals';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const rootRequired = process.env.NETDIAG_REQUIRE_ROOT_TESTS === '1';

/** `describe` for a suite that needs root: runs as root, fails or is skipped (with a reason) otherwise. */
export function describeAsRoot(name: string, body: () => void): void {
  if (isRoot) {
    describe(name, body);
    return;
  }
  if (rootRequired) {
    describe(name, () => {
      it('needs root (NETDIAG_REQUIRE_ROOT_TESTS=1 is set)', () => {
        throw new Error(`${name}: this suite needs root to build network namespaces; run the tests as root`);
      });
    });
    return;
  }
  process.stderr.write(`skipping "${name}": needs root (network namespaces, iptables)\n`);
  describe.skip(name, body);
}
