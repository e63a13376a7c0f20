import { describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { packSnapshot, SnapshotUnpackError, unpackSnapshot } from './snapshot-pack.js';

describe('packSnapshot / unpackSnapshot', () => {
  it('round-trips through gzip and chunks of at most the size asked', () => {
    const json = JSON.stringify({ noise: randomBytes(300_000).toString('base64') });
    const packed = packSnapshot(json, 100_000);
    expect(packed.rawBytes).toBe(Buffer.byteLength(json));
    expect(packed.chunks.length).toBe(Math.ceil(packed.gzipBytes / 100_000));
    expect(packed.chunks.every((c) => c.length <= 100_000)).toBe(true);
    expect(unpackSnapshot(packed.chunks, packed.sha256)).toBe(json);
  });

  it('refuses chunks out of order (the checksum no longer holds)', () => {
    const packed = packSnapshot(randomBytes(50_000).toString('hex'), 10_000);
    const swapped = [packed.chunks[1], packed.chunks[0], ...packed.chunks.slice(2)] as Buffer[];
    expect(() => unpackSnapshot(swapped, packed.sha256)).toThrow(SnapshotUnpackError);
    expect(() => unpackSnapshot(swapped, packed.sha256)).toThrow(/checksum mismatch/);
  });

  it('says so when the data is not gzip', () => {
    const packed = packSnapshot('{}');
    const notGzip = Buffer.from('plain');
    expect(() => unpackSnapshot([notGzip], packed.sha256)).toThrow(/checksum mismatch/);
    expect(() => unpackSnapshot([notGzip], createHash('sha256').update(notGzip).digest('hex'))).toThrow(/cannot decompress/);
  });
});
