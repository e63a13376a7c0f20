// Where a snapshot goes from the agent: a file (written whole to a temporary name, then renamed, so
// a reader never sees half a snapshot), standard output, or gzip in memory for the API server
// (kube/snapshot-configmaps.ts writes the chunks). The JSON is produced in pieces and never held
// whole.

import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { jsonBatches, type JsonPiece } from '../serialize.js';
import type { Snapshot } from '../snapshot.js';

/** Writes all of a piece (writeSync may write less than asked); returns the bytes written. */
function writeAll(fd: number, piece: JsonPiece): number {
  const data = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset);
  return data.length;
}

/** Writes the snapshot (and a newline) to `path` atomically; returns the bytes written. */
export function writeSnapshotFile(path: string, snapshot: Snapshot): number {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number | undefined;
  let bytes = 0;
  try {
    fd = openSync(tmp, 'w', 0o644);
    for (const batch of jsonBatches(snapshot)) bytes += writeAll(fd, batch);
    bytes += writeAll(fd, '\n');
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    return bytes;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Writes the snapshot (and a newline) to standard output, honouring back-pressure; returns the bytes written. */
export async function writeSnapshotStdout(snapshot: Snapshot): Promise<number> {
  let bytes = 0;
  const write = (piece: JsonPiece): Promise<void> =>
    new Promise((resolve, reject) => {
      bytes += Buffer.byteLength(piece);
      process.stdout.write(piece, (error) => (error ? reject(error) : resolve()));
    });
  for (const batch of jsonBatches(snapshot)) await write(batch);
  await write('\n');
  return bytes;
}

/** The snapshot's JSON (and a newline), gzipped; `rawBytes` is the size before compression. */
export async function gzipSnapshot(snapshot: Snapshot): Promise<{ gzip: Buffer; rawBytes: number }> {
  const gzip = createGzip({ level: 6 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  let rawBytes = 0;
  const write = async (piece: JsonPiece): Promise<void> => {
    rawBytes += Buffer.byteLength(piece);
    if (!gzip.write(piece)) await new Promise<void>((resolve) => gzip.once('drain', resolve));
  };
  for (const batch of jsonBatches(snapshot)) await write(batch);
  await write('\n');
  gzip.end();
  await done;
  return { gzip: Buffer.concat(out), rawBytes };
}
