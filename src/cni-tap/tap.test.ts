import { describe, expect, it } from '@jest/globals';
import { parseCniRecordLine } from '../diagnosis/index.js';
import { DEFAULT_RECORD_DIR, runTap, SUPPORTED_VERSIONS, type TapInput } from './tap.js';

const NOW = new Date('2026-01-02T03:04:05.678Z');
const ENV = { CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/p1', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1' };
const RESULT = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/p1' }], ips: [{ address: '10.244.0.2/24', gateway: '10.244.0.1', interface: 0 }] };
const chain = ['bridge'];

function input(command: string, stdin: unknown, env: Record<string, string> = {}): TapInput {
  return { env: { ...ENV, CNI_COMMAND: command, ...env }, stdin: typeof stdin === 'string' ? stdin : JSON.stringify(stdin), pid: 42, now: NOW, hostname: 'node1' };
}

describe('runTap', () => {
  it('answers ADD at the head with an empty result of the requested version and records the configuration without prevResult', () => {
    const out = runTap(input('ADD', { cniVersion: '0.4.0', name: 'net', type: 'netdiag-cni-tap', position: 'head', chain }));
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '0.4.0' });
    expect(out.problems).toEqual([]);
    const record = parseCniRecordLine((out.line ?? '').trimEnd());
    expect(record).toEqual({
      v: 1,
      time: '2026-01-02T03:04:05.678Z',
      position: 'head',
      command: 'ADD',
      containerId: 'abc123',
      netns: '/run/netns/p1',
      ifname: 'eth0',
      args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1',
      pid: 42,
      network: 'net',
      cniVersion: '0.4.0',
      config: { cniVersion: '0.4.0', name: 'net', type: 'netdiag-cni-tap', position: 'head', chain },
    });
  });

  it('passes prevResult through unchanged at the tail and records it as the result', () => {
    const out = runTap(input('ADD', { cniVersion: '1.0.0', name: 'net', type: 'netdiag-cni-tap', position: 'tail', chain, prevResult: RESULT }));
    expect(JSON.parse(out.stdout)).toEqual(RESULT);
    const record = parseCniRecordLine((out.line ?? '').trimEnd());
    expect(record).toMatchObject({ position: 'tail', command: 'ADD', result: RESULT });
    expect(record).not.toHaveProperty('config');
  });

  it('records a tail that got no result as an error, and still answers with a result', () => {
    const out = runTap(input('ADD', { cniVersion: '1.0.0', name: 'net', type: 'netdiag-cni-tap', position: 'tail' }));
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.0.0' });
    expect(parseCniRecordLine((out.line ?? '').trimEnd())).toMatchObject({ position: 'tail', error: expect.stringContaining('no prevResult') });
  });

  it.each(['DEL', 'CHECK'])('records %s and prints nothing', (command) => {
    const out = runTap(input(command, { cniVersion: '1.0.0', name: 'net', type: 'netdiag-cni-tap', position: 'head', prevResult: RESULT }));
    expect(out.stdout).toBe('');
    expect(parseCniRecordLine((out.line ?? '').trimEnd())).toMatchObject({ command, position: 'head' });
  });

  it.each(['STATUS', 'GC'])('succeeds on %s without recording', (command) => {
    const out = runTap(input(command, { cniVersion: '1.1.0', name: 'net', type: 'netdiag-cni-tap' }));
    expect(out).toMatchObject({ stdout: '', problems: [] });
    expect(out.line).toBeUndefined();
  });

  it('answers VERSION with the versions it supports', () => {
    const out = runTap(input('VERSION', '{"cniVersion":"1.0.0"}'));
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(out.line).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"cniVersion": '],
    ['not an object', '[1, 2]'],
  ])('on ADD with standard input %s: reports it, records the error, and still prints a result', (_what, stdin) => {
    const out = runTap(input('ADD', stdin));
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.0.0' });
    expect(out.problems.join(' ')).toMatch(/configuration on standard input/);
    expect(parseCniRecordLine((out.line ?? '').trimEnd())).toMatchObject({ command: 'ADD', error: expect.stringContaining('standard input') });
  });

  it.each([
    ['the default', {}, {}, DEFAULT_RECORD_DIR, 'node1'],
    ['the environment', {}, { NETDIAG_CNI_TAP_DIR: '/tmp/rec', NODE_NAME: 'n-2' }, '/tmp/rec', 'n-2'],
    ['the configuration', { recordDir: '/data/rec', nodeName: 'a/b' }, { NETDIAG_CNI_TAP_DIR: '/tmp/rec' }, '/data/rec', 'a_b'],
  ])('takes the record directory and node name from %s', (_what, fields, env, dir, node) => {
    const out = runTap(input('DEL', { cniVersion: '1.0.0', name: 'net', type: 'netdiag-cni-tap', position: 'head', ...fields }, env));
    expect(out.target).toMatchObject({ dir, node, maxBytes: 10 * 1024 * 1024, keep: 3 });
  });
});
