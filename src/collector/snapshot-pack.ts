// A snapshot on its way through the API server: gzip, a sha256 of the compressed bytes, and
// chunks small enough for one ConfigMap each; and the way back, verified. Pure code (computation
// only: no I/O).

import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

/** A ConfigMap holds at most 1 MiB of data; a chunk leaves room for the object's metadata. */
export const SNAPSHOT_CHUNK_BYTES = 900 * 1024;

export interface PackedSnapshot {
  readonly chunks: readonly Buffer[];
  /** sha256 of the whole compressed snapshot, hex. */
  readonly sha256: string;
  /** Bytes of the JSON before compression. */
  readonly rawBytes: number;
  readonly gzipBytes: number;
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Chunks an already compressed snapshot (`rawBytes`: its size before compression). */
export function packGzip(gzip: Buffer, rawBytes: number, chunkBytes: number = SNAPSHOT_CHUNK_BYTES): PackedSnapshot {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new Error(`chunk size must be a positive integer, not ${chunkBytes}`);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < gzip.length; offset += chunkBytes) chunks.push(gzip.subarray(offset, offset + chunkBytes));
  if (chunks.length === 0) chunks.push(Buffer.alloc(0));
  return { chunks, sha256: sha256Hex(gzip), rawBytes, gzipBytes: gzip.length };
}

/** Compresses and chunks a snapshot's JSON text. */
export function packSnapshot(json: string | Buffer, chunkBytes: number = SNAPSHOT_CHUNK_BYTES): PackedSnapshot {
  const raw = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  return packGzip(gzipSync(raw, { level: 6 }), raw.length, chunkBytes);
}

export class SnapshotUnpackError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SnapshotUnpackError';
  }
}

/** Joins chunks (in order), checks the sha256 and decompresses: the snapshot's JSON text. */
export function unpackSnapshot(chunks: readonly Buffer[], sha256: string): string {
  const gzip = Buffer.concat(chunks);
  const actual = sha256Hex(gzip);
  if (actual !== sha256) throw new SnapshotUnpackError(`checksum mismatch: the chunks hash to ${actual}, the writer recorded ${sha256}`);
  try {
    return gunzipSync(gzip).toString('utf8');
  } catch (error) {
    throw new SnapshotUnpackError(`cannot decompress: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
