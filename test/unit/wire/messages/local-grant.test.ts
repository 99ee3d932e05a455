import test from 'ava';
import { parseLocalGrant } from '../../../../src/wire/index.js';

test('a local grant names absolute directories', (t) => {
  t.deepEqual(parseLocalGrant({ machine: 'm', chunkDir: '/d/chunks', incomingDir: '/d/incoming' }), { machine: 'm', chunkDir: '/d/chunks', incomingDir: '/d/incoming' });
  t.is(parseLocalGrant({ machine: 'm', chunkDir: 'd/chunks', incomingDir: '/d/incoming' }), null);
  t.is(parseLocalGrant({ machine: 'm', chunkDir: '/d/chunks' }), null);
  t.deepEqual(parseLocalGrant({ machine: 'm', chunkDir: '/d/chunks', incomingDir: '/d/incoming', metaPath: '/d/meta.lmdb' })?.metaPath, '/d/meta.lmdb');
  t.is(parseLocalGrant({ machine: 'm', chunkDir: '/d/chunks', incomingDir: '/d/incoming', metaPath: 'meta.lmdb' })?.metaPath, undefined, 'a relative path is not used');
});
