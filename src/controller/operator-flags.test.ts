import { describe, expect, it } from '@jest/globals';
import { FlagError, OPERATOR_USAGE, parseOperatorFlags } from './operator-flags.js';

const run = (args: string[]): ReturnType<typeof parseOperatorFlags> => parseOperatorFlags(args);

describe('parseOperatorFlags', () => {
  it('applies the defaults', () => {
    expect(run(['--collector-image', 'netdiag:1'])).toEqual({
      kind: 'run',
      flags: {
        collectorImage: 'netdiag:1',
        collectorServiceAccount: 'netdiag-collector',
        workers: 4,
        healthAddr: { host: '', port: 8081 },
        metricsAddr: { host: '', port: 8080 },
        leaderElect: true,
        leaseName: 'netdiag-operator',
        allowCrossNamespace: false,
        shareCollections: true,
        collectorTimeoutSeconds: 60,
        collectorCommandTimeoutSeconds: 10,
        collectorDeadlineSeconds: 180,
      },
    });
  });

  it('reads every flag (the lab starts it with --kubeconfig, --namespace, --collector-image and port-0 addresses)', () => {
    const parsed = run([
      '--kubeconfig', 'K', '--namespace', 'netdiag-system', '--collector-image', 'netdiag:lab', '--health-addr', '127.0.0.1:0', '--metrics-addr', '[::1]:9090',
      '--collector-service-account', 'sa', '--workers', '8', '--no-leader-elect', '--lease-name', 'l', '--allow-cross-namespace',
      '--no-share-collections', '--collector-timeout', '30', '--collector-command-timeout', '5', '--collector-deadline', '90', '--log-level', 'debug',
    ]);
    expect(parsed).toEqual({
      kind: 'run',
      flags: {
        kubeconfig: 'K',
        namespace: 'netdiag-system',
        collectorImage: 'netdiag:lab',
        collectorServiceAccount: 'sa',
        workers: 8,
        healthAddr: { host: '127.0.0.1', port: 0 },
        metricsAddr: { host: '::1', port: 9090 },
        leaderElect: false,
        leaseName: 'l',
        allowCrossNamespace: true,
        shareCollections: false,
        collectorTimeoutSeconds: 30,
        collectorCommandTimeoutSeconds: 5,
        collectorDeadlineSeconds: 90,
        logLevel: 'debug',
      },
    });
  });

  it.each([['--help'], ['-h']])('%s asks for the usage, which documents every flag', (flag) => {
    expect(run([flag])).toEqual({ kind: 'help' });
    for (const name of ['--kubeconfig', '--namespace', '--collector-image', '--collector-service-account', '--workers', '--health-addr', '--metrics-addr', '--leader-elect', '--no-leader-elect', '--lease-name', '--allow-cross-namespace', '--share-collections', '--no-share-collections', '--collector-timeout', '--collector-deadline', '--log-level']) {
      expect(OPERATOR_USAGE).toContain(name);
    }
  });

  it.each([
    [[], '--collector-image is required'],
    [['--collector-image', ''], '--collector-image must not be empty'],
    [['--collector-image', 'i', '--workers', '0'], '--workers: "0" is not a whole number of at least 1'],
    [['--collector-image', 'i', '--workers', 'many'], '--workers: "many" is not a whole number'],
    [['--collector-image', 'i', '--collector-deadline', '1.5'], '--collector-deadline: "1.5" is not a whole number'],
    [['--collector-image', 'i', '--health-addr', '8081'], '--health-addr: "8081" is not HOST:PORT'],
    [['--collector-image', 'i', '--metrics-addr', ':70000'], '--metrics-addr: ":70000" is not HOST:PORT'],
    [['--collector-image', 'i', '--log-level', 'loud'], '--log-level: "loud" is not one of error, warn, info, debug'],
    [['--collector-image', 'i', '--leader-elect', '--no-leader-elect'], 'contradict'],
    [['--collector-image', 'i', '--share-collections', '--no-share-collections'], '--share-collections and --no-share-collections contradict each other'],
    [['--collector-image', 'i', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['--collector-image', 'i', 'extra'], 'extra'],
    [['--collector-image'], "Option '--collector-image <value>' argument missing"],
  ])('refuses %j with one line naming the flag', (args, message) => {
    let thrown: unknown;
    try {
      run(args);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FlagError);
    expect((thrown as Error).message).toContain(message);
    expect((thrown as Error).message).not.toContain('\n');
  });
});
