// netdiag's CNI tap in the lab (`cniTap`), as its DaemonSet would put it on a real node: the
// `netdiag-cni-tap` executable linked into the CNI bin directory the nodes' runtimes search (the
// lab's bin/, their CNI_PATH), then the real `netdiag cni-tap install --conf-dir ROOT/etc/cni/net.d
// --record-dir ROOT/var/log/netdiag` run through the built CLI on each node, once the node's network
// wrote its configuration list and before any pod. Every pod's ADD and DEL then runs the tapped
// chain, and the collector (ROOT/var/log/netdiag, through its /proc/1/root path) ships the records.

import { accessSync, constants, lstatSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './process.js';

export { cniTapRefusal } from './scenario.js';

/** The tap's CNI type: the name it must have in CNI_PATH. */
export const CNI_TAP_BINARY = 'netdiag-cni-tap';

/** The built files the tap needs: the plugin and the CLI (dist/, `npm run build`). */
export function cniTapFiles(repo: string): { readonly plugin: string; readonly cli: string } {
  return { plugin: join(repo, 'dist', 'src', 'cni-tap', 'main.js'), cli: join(repo, 'dist', 'src', 'cli', 'main.js') };
}

/** Links the plugin into CNI_BIN_DIR as `netdiag-cni-tap` (it must be built and executable). */
export function linkCniTap(plugin: string, cniBinDir: string): string {
  try {
    accessSync(plugin, constants.X_OK);
  } catch (error) {
    throw new Error(`the CNI tap ${plugin} is not built or not executable (npm run build): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const link = join(cniBinDir, CNI_TAP_BINARY);
  let current: string | undefined;
  try {
    current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : '';
  } catch {
    current = undefined;
  }
  if (current !== plugin) {
    rmSync(link, { force: true });
    symlinkSync(plugin, link);
  }
  return link;
}

/** Runs the real `netdiag cni-tap install` on a node's root, as the DaemonSet's container would; returns its line. */
export function installCniTap(cli: string, nodeRoot: string): string {
  const confDir = join(nodeRoot, 'etc', 'cni', 'net.d');
  const recordDir = join(nodeRoot, 'var', 'log', 'netdiag');
  return run(process.execPath, [cli, 'cni-tap', 'install', '--conf-dir', confDir, '--record-dir', recordDir]).trim();
}
