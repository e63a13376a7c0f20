// `netdiag collect`'s flags that restrict where namespaces are searched: --netns-dir (repeatable)
// and --no-proc-netns, parsed into the request the command hands to the agent.
import { describe, expect, it } from '@jest/globals';
import { UsageError } from './cli-error.js';
import { parseCollectArgs, COLLECT_USAGE } from './collect-args.js';

describe('parseCollectArgs: --netns-dir and --no-proc-netns', () => {
  it.each([
    ['neither flag: the default directories and /proc', [], { netnsDirs: undefined, procNetns: undefined }],
    ['one directory', ['--netns-dir', '/lab/nodes/node1/root/run/netns'], { netnsDirs: ['/lab/nodes/node1/root/run/netns'], procNetns: undefined }],
    ['several directories, in order', ['--netns-dir', '/b', '--netns-dir', '/a'], { netnsDirs: ['/b', '/a'], procNetns: undefined }],
    ['no /proc search', ['--no-proc-netns'], { netnsDirs: undefined, procNetns: false }],
    ['both', ['--no-proc-netns', '--netns-dir', '/n'], { netnsDirs: ['/n'], procNetns: false }],
  ])('%s', (_, args, expected) => {
    const request = parseCollectArgs(args);
    expect({ netnsDirs: request.netnsDirs, procNetns: request.procNetns }).toEqual(expected);
  });

  it('leaves both keys out of the request when not given', () => {
    const request = parseCollectArgs(['--out', '/dev/null']);
    expect(Object.keys(request)).not.toContain('netnsDirs');
    expect(Object.keys(request)).not.toContain('procNetns');
  });

  it.each([
    [['--netns-dir', ''], '--netns-dir "": expected a directory'],
    [['--netns-dir'], "Option '--netns-dir <value>' argument missing"],
    [['--no-proc-netns=yes'], "Option '--no-proc-netns' does not take an argument"],
  ])('refuses %j', (args, message) => {
    expect(() => parseCollectArgs(args)).toThrow(UsageError);
    expect(() => parseCollectArgs(args)).toThrow(message);
  });

  it('documents both flags in the usage', () => {
    expect(COLLECT_USAGE).toMatch(/^ {2}--netns-dir DIR +a directory of named network namespaces/m);
    expect(COLLECT_USAGE).toMatch(/^ {2}--no-proc-netns +do not search the namespaces of processes/m);
    // The usage's last line stays --quiet (the lab's failing-collector test reads the tail).
    expect(COLLECT_USAGE.trimEnd()).toMatch(/--quiet +no progress on stderr$/);
  });
});
