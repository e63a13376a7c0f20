// The tap's record file on a real filesystem: appending, rotation by size, the lock (stale, held,
// and contended by concurrent taps: the BUILT dist/src/cni-tap/main.js, run as processes).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendRecord } from '../../src/cni-tap/record-log.js';
import { parseCniRecordFiles } from '../../src/diagnosis/index.js';

const TAP_MAIN = fileURLToPath(new URL('../../dist/src/cni-tap/main.js', import.meta.url));

function line(i: number): string {
  return `${JSON.stringify({ v: 1, time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), position: 'head', command: 'DEL', containerId: `c${i}`, pid: i })}\n`;
}

function readAll(dir: string): { path: string; content: string }[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => ({ path: join(dir, n), content: readFileSync(join(dir, n), 'utf8') }));
}

describe('appendRecord', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netdiag-record-log-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates by size, keeps the newest files, and the diagnostor reads them back in order', () => {
    const d = join(dir, 'rotate');
    const size = Buffer.byteLength(line(0));
    for (let i = 0; i < 10; i++) expect(appendRecord(line(i), { dir: d, node: 'n1', maxBytes: size * 2, keep: 2 })).toEqual([]);
    expect(readdirSync(d).sort()).toEqual(['cni-n1.1.jsonl', 'cni-n1.2.jsonl', 'cni-n1.jsonl']);
    const log = parseCniRecordFiles(readAll(d));
    expect(log.records.map((r) => r.containerId)).toEqual(['c4', 'c5', 'c6', 'c7', 'c8', 'c9']);
  });

  it('removes a stale lock left by a killed tap', () => {
    const d = join(dir, 'stale');
    appendRecord(line(0), { dir: d, node: 'n1', maxBytes: 1 << 20, keep: 3 });
    const lock = join(d, 'cni-n1.lock');
    writeFileSync(lock, '99999\n');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(lock, old, old);
    expect(appendRecord(line(1), { dir: d, node: 'n1', maxBytes: 1 << 20, keep: 3 })).toEqual([]);
    expect(existsSync(lock)).toBe(false);
    expect(readFileSync(join(d, 'cni-n1.jsonl'), 'utf8')).toBe(line(0) + line(1));
  });

  it('appends without rotating when the lock stays held, and says so', () => {
    const d = join(dir, 'held');
    appendRecord(line(0), { dir: d, node: 'n1', maxBytes: 10, keep: 3 });
    writeFileSync(join(d, 'cni-n1.lock'), '1\n');
    const notes = appendRecord(line(1), { dir: d, node: 'n1', maxBytes: 10, keep: 3 });
    expect(notes).toEqual([expect.stringContaining('appended without rotating')]);
    expect(readFileSync(join(d, 'cni-n1.jsonl'), 'utf8')).toBe(line(0) + line(1));
    expect(existsSync(join(d, 'cni-n1.lock'))).toBe(true);
  }, 30_000);

  it('loses no record when many taps append and rotate at once', async () => {
    if (!existsSync(TAP_MAIN)) throw new Error(`${TAP_MAIN} is missing: run \`npm run build\` first`);
    const d = join(dir, 'concurrent');
    const taps = 24;
    const config = (i: number): string => JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'netdiag-cni-tap', position: 'head', recordDir: d, nodeName: 'n1', maxBytes: 4096, keep: 50, n: i });
    const outputs = await Promise.all(
      Array.from({ length: taps }, (_, i) =>
        new Promise<{ code: number | null; stdout: string }>((resolve) => {
          const child = spawn(process.execPath, [TAP_MAIN], { env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c${i}`, CNI_IFNAME: 'eth0' } });
          let stdout = '';
          child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
          child.on('close', (code) => resolve({ code, stdout }));
          child.stdin.end(config(i));
        }),
      ),
    );
    expect(outputs.every((o) => o.code === 0 && o.stdout === '{"cniVersion":"1.0.0"}')).toBe(true);
    const log = parseCniRecordFiles(readAll(d));
    expect(log.warnings).toEqual([]);
    expect(log.records.map((r) => r.containerId).sort()).toEqual(Array.from({ length: taps }, (_, i) => `c${i}`).sort());
    expect(readdirSync(d).filter((n) => n.endsWith('.jsonl')).length).toBeGreaterThan(1);
  }, 60_000);
});
