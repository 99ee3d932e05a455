import test from 'ava';
import { decodeManifest, encodeManifest } from '../../../src/client/index.js';
import { chunkKeyOf } from '../../../src/core/index.js';

test('a chunk map names its inode; a manifest from put names none; a malformed inode is refused', (t) => {
  const chunks = [chunkKeyOf(Buffer.from('x')), null];
  const map = { version: 1 as const, size: 1_500_000, chunkBytes: 1 << 20, chunks, inode: '0a1b2c3d4e5f60718293a4b5' };
  t.deepEqual(decodeManifest(encodeManifest(map)), map);
  t.is(decodeManifest(encodeManifest({ ...map, inode: undefined }))?.inode, undefined);
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...map, inode: '../etc' }))), null);
  t.is(decodeManifest(Buffer.from(JSON.stringify({ ...map, inode: 7 }))), null);
});
