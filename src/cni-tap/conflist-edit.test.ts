import { describe, expect, it } from '@jest/globals';
import { buildTapped, configFiles, planInstall, planUninstall, TAP_TYPE, type ConfDirFile } from './conflist-edit.js';

/** A directory in memory: applies plans as the command does. */
type Dir = Map<string, string>;

function files(dir: Dir): ConfDirFile[] {
  return [...dir].map(([name, content]) => ({ name, content }));
}

function install(dir: Dir, recordDir?: string): ReturnType<typeof planInstall> {
  const plan = planInstall(files(dir), recordDir !== undefined ? { recordDir } : {});
  if (plan.kind === 'install') {
    dir.set(plan.backup, dir.get(plan.source) ?? '');
    dir.set(plan.target, plan.content);
    if (plan.removeSource) dir.delete(plan.source);
  }
  return plan;
}

function uninstall(dir: Dir): ReturnType<typeof planUninstall> {
  const plan = planUninstall(files(dir));
  if (plan.kind === 'restore') {
    dir.set(plan.restoreTo, dir.get(plan.backup) ?? '');
    if (plan.removeTarget) dir.delete(plan.target);
    dir.delete(plan.backup);
  }
  return plan;
}

const BRIDGE = `{
    "cniVersion": "1.0.0",
    "name": "bridge-net",
    "plugins": [
        {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.244.0.0/24"}},
        {"type": "portmap", "capabilities": {"portMappings": true}}
    ]
}
`;
const SINGLE = '{"cniVersion":"0.3.1","name":"single","type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.1.0.0/16"}}';
const COMPACT_LIST = '{"cniVersion":"0.4.0","name":"n","plugins":[{"type":"ptp","note":"ünïcode"}]}';

describe('configFiles', () => {
  it('keeps .conf, .conflist and .json files in byte order, as libcni ConfFiles and the runtime sort them', () => {
    const names = ['99-z.conflist', '10-b.conf', 'README', '10-a.json', '10-B.conflist', 'x.conflist.netdiag-backup', '05-c.conf.d'];
    expect(configFiles(names.map((name) => ({ name }))).map((f) => f.name)).toEqual(['10-B.conflist', '10-a.json', '10-b.conf', '99-z.conflist']);
  });
});

describe('install and uninstall', () => {
  it.each([
    ['an indented list', '10-bridge.conflist', BRIDGE],
    ['a compact list without final newline', '10-n.conflist', COMPACT_LIST],
    ['a list in a .json file', '10-n.json', COMPACT_LIST],
    ['a single plugin .conf (converted to a list)', '10-single.conf', SINGLE],
  ])('round-trips %s byte for byte', (_what, name, content) => {
    const dir: Dir = new Map([[name, content], ['99-other.conflist', COMPACT_LIST.replace('"n"', '"other"')]]);
    const before = new Map(dir);
    const plan = install(dir);
    expect(plan.kind).toBe('install');
    const target = plan.kind === 'install' ? plan.target : '';
    const tapped = JSON.parse(dir.get(target) ?? '') as { plugins: { type: string; position?: string; chain?: string[] }[] };
    expect(tapped.plugins[0]).toMatchObject({ type: TAP_TYPE, position: 'head' });
    expect(tapped.plugins.at(-1)).toMatchObject({ type: TAP_TYPE, position: 'tail' });
    expect(tapped.plugins.slice(1, -1).map((p) => p.type)).toEqual(tapped.plugins[0]?.chain);
    expect(configFiles(files(dir))[0]?.name).toBe(target);

    expect(install(dir)).toEqual({ kind: 'already', target });
    expect(uninstall(dir).kind).toBe('restore');
    expect(dir).toEqual(before);
    expect(uninstall(dir).kind).toBe('not-installed');
  });

  it('keeps the layout of the original (indentation, final newline) and writes the record directory', () => {
    const out = buildTapped('10-bridge.conflist', BRIDGE, { recordDir: '/data/rec' });
    expect('content' in out && out.content.startsWith('{\n    "cniVersion"') && out.content.endsWith('}\n')).toBe(true);
    expect('content' in out && (JSON.parse(out.content) as { plugins: { recordDir?: string }[] }).plugins[0]?.recordDir).toBe('/data/rec');
    const dir: Dir = new Map([['10-bridge.conflist', BRIDGE]]);
    install(dir, '/data/rec');
    expect(uninstall(dir).kind).toBe('restore');
    expect(dir.get('10-bridge.conflist')).toBe(BRIDGE);
  });

  it.each([
    ['not JSON', '{"name": "x", "plugins": ['],
    ['not an object', '[]'],
    ['no name', '{"plugins":[{"type":"bridge"}]}'],
    ['no plugins', '{"name":"x"}'],
    ['a plugin without type', '{"name":"x","plugins":[{"bridge":"cni0"}]}'],
    ['partly tapped', `{"name":"x","plugins":[{"type":"${TAP_TYPE}","position":"head"},{"type":"bridge"}]}`],
  ])('refuses a first file that is %s and leaves the directory untouched', (_what, content) => {
    const dir: Dir = new Map([['10-x.conflist', content], ['20-ok.conflist', BRIDGE]]);
    const before = new Map(dir);
    expect(install(dir).kind).toBe('refuse');
    expect(dir).toEqual(before);
  });

  it('refuses to uninstall when the tapped file changed since install, and when no backup is there', () => {
    const dir: Dir = new Map([['10-bridge.conflist', BRIDGE]]);
    install(dir);
    dir.set('10-bridge.conflist', (dir.get('10-bridge.conflist') ?? '').replace('cni0', 'cni1'));
    const changed = new Map(dir);
    expect(uninstall(dir)).toMatchObject({ kind: 'refuse', message: expect.stringContaining('changed since install') });
    expect(dir).toEqual(changed);
    dir.delete('10-bridge.conflist.netdiag-backup');
    expect(uninstall(dir)).toMatchObject({ kind: 'refuse', message: expect.stringContaining('no backup') });
  });

  it('refuses to convert a single plugin file when the list it becomes would not be the first file', () => {
    const dir: Dir = new Map([['10-a.conf', SINGLE], ['10-a.confa.json', COMPACT_LIST]]);
    expect(planInstall(files(dir))).toMatchObject({ kind: 'refuse', message: expect.stringContaining('would not be the first') });
  });

  it('refuses an empty directory', () => {
    expect(planInstall([]).kind).toBe('refuse');
    expect(planUninstall([]).kind).toBe('not-installed');
  });
});
