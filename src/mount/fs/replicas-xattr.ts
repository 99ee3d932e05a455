import { REPLICAS_MAX } from '../../client/index.js';
import { fsError } from '../../core/index.js';
import type { Inode } from '../../namespace/index.js';

/**
 * The extended attribute that shows and sets an inode's R (`cellsync setr`
 * does the same from outside a mount): "3" as text. Not stored among the
 * inode's xattrs but in its `replicas`, and not listed (as CephFS's ceph.*
 * attributes are not): `cp -a` or `rsync -X` out of the mount must not copy
 * it onto another file system. Absent (ENODATA) while the inode has no R of
 * its own: its chunks keep the R of the mount that wrote them.
 */
export const REPLICAS_XATTR = 'user.cellsync.replicas';

/** The xattr's value for an inode, or null if it has no R of its own. */
export function replicasXattrOf(inode: Inode): Buffer | null {
  return inode.replicas === undefined ? null : Buffer.from(String(inode.replicas));
}

/** R from a value given to setxattr: a decimal 1..REPLICAS_MAX (a trailing newline allowed, as `echo` leaves), else EINVAL. */
export function parseReplicasXattr(value: Buffer, path: string): number {
  const text = value.toString('utf8').replace(/\n$/, '');
  const n = /^[0-9]{1,2}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= REPLICAS_MAX)) throw fsError('INVALID_ARGUMENT', `${path}: ${REPLICAS_XATTR} takes 1..${REPLICAS_MAX}`);
  return n;
}
