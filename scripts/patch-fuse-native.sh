#!/usr/bin/env bash
# Rebuilds fuse-native 2.2.6 from its own source with three changes (see
# native-notes/README.md, "Timestamps", "Who is calling" and "Inode numbers"):
# - utimens_arg: its C layer handed utimens the access time twice, so the
#   modification time a program set (cp -p, rsync -a, touch -d) was lost.
#   The fix passes the modification time, and UTIME_OMIT and UTIME_NOW as
#   values JavaScript can tell apart.
# - caller: every operation's arguments end with the caller's uid, gid and
#   pid, read with fuse_get_context() on the libfuse thread that took the
#   request (on the event loop, where JavaScript runs, it means nothing), so
#   new files belong to whoever made them.
# - ino_high: st_ino carries 64 bits (a 19th uint32 in the stat array for
#   the high word, in index.js and in the C that reads it), so inode numbers
#   are the file system's own stable ones (use_ino).
# - one_time: libfuse 2 drops a setattr that sets one time alone (tar x sets
#   mtime with atime UTIME_OMIT); such a request is made to set both, the
#   other one UTIME_OMIT, as it is read from the kernel.
# Each change is applied once (a marker string says it is there); the build
# is redone when one was applied. If the build cannot run here (no C compiler
# or no Node headers), the prebuilt binary stays and setup says what is lost.
set -euo pipefail
cd "$(dirname "$0")/../node_modules/fuse-native"

grep -q 'FUSE_UINT64_TO_INTS_ARGV' fuse-native.c && grep -q 'function getStatArray' index.js || {
  echo "patch-fuse-native: node_modules/fuse-native is not the expected 2.2.6 source" >&2
  exit 1
}

# Applies the named changes to a file; each (old, new) must match exactly
# `count` times, or nothing is written and the script stops.
patched=$(python3 - <<'PY'
import sys

def patch(path, marker, edits):
    s = open(path).read()
    if marker in s:
        return False
    for old, new, count in edits:
        if s.count(old) != count:
            sys.exit(f"patch-fuse-native: {path}: expected {count} of {old.strip()[:60]!r}, found {s.count(old)}")
        s = s.replace(old, new)
    if marker not in s:
        sys.exit(f"patch-fuse-native: {path}: marker {marker!r} missing after patching")
    open(path, 'w').write(s)
    return True

changed = []

if patch('fuse-native.c', 'cellsync: utimens_arg', [
    ('static uint64_t timespec_to_uint64 (const struct timespec* ts) {',
     '/* cellsync: utimens_arg: UTIME_OMIT and UTIME_NOW as 2^53-1 and 2^53-2 (exact as JavaScript numbers). */\n'
     'static uint64_t utimens_arg (const struct timespec* ts);\n'
     'static uint64_t timespec_to_uint64 (const struct timespec* ts) {', 1),
    ('  l->atime = timespec_to_uint64(&tv[0]);\n  l->mtime = timespec_to_uint64(&tv[1]);',
     '  l->atime = utimens_arg(&tv[0]);\n  l->mtime = utimens_arg(&tv[1]);', 1),
    ('FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)', 1),
    ('static void populate_stat (',
     'static uint64_t utimens_arg (const struct timespec* ts) {\n'
     '  if (ts->tv_nsec == UTIME_OMIT) return 9007199254740991ULL;\n'
     '  if (ts->tv_nsec == UTIME_NOW) return 9007199254740990ULL;\n'
     '  return timespec_to_uint64(ts);\n'
     '}\n\n'
     'static void populate_stat (', 1),
]):
    changed.append('utimens')

if patch('fuse-native.c', 'cellsync: caller', [
    ('  int32_t res;\n',
     '  int32_t res;\n\n'
     '  /* cellsync: caller: who asked, read on the libfuse thread (fuse_get_context means nothing on the event loop). */\n'
     '  uint32_t caller_uid;\n'
     '  uint32_t caller_gid;\n'
     '  uint32_t caller_pid;\n', 1),
    ('  l->op_fn = fuse_native_dispatch_##name;\\\n  blk\\\n',
     '  l->op_fn = fuse_native_dispatch_##name;\\\n'
     '  {\\\n'
     '    struct fuse_context *caller = fuse_get_context();\\\n'
     '    l->caller_uid = caller->uid;\\\n'
     '    l->caller_gid = caller->gid;\\\n'
     '    l->caller_pid = caller->pid;\\\n'
     '  }\\\n'
     '  blk\\\n', 1),
    ('      napi_value argv[callbackArgs + 2];\\\n', '      napi_value argv[callbackArgs + 5];\\\n', 1),
    ('      callbackBlk\\\n      NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, callbackArgs + 2, argv, NULL)\\\n',
     '      callbackBlk\\\n'
     '      napi_create_uint32(env, l->caller_uid, &(argv[callbackArgs + 2]));\\\n'
     '      napi_create_uint32(env, l->caller_gid, &(argv[callbackArgs + 3]));\\\n'
     '      napi_create_uint32(env, l->caller_pid, &(argv[callbackArgs + 4]));\\\n'
     '      NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, callbackArgs + 5, argv, NULL)\\\n', 1),
]):
    changed.append('caller')

if patch('fuse-native.c', 'cellsync: ino_high', [
    ('static void populate_statvfs (',
     '/* cellsync: ino_high: st_ino\'s high 32 bits, from a 19th uint32 when the array has one. */\n'
     'static void populate_stat_ino_high (const uint32_t *ints, size_t bytes, struct stat* stat) {\n'
     '  if (bytes >= 19 * sizeof(uint32_t)) stat->st_ino |= ((uint64_t) ints[18]) << 32;\n'
     '}\n\n'
     'static void populate_statvfs (', 1),
    ('  populate_stat(ints, l->stat);\n',
     '  populate_stat(ints, l->stat);\n  populate_stat_ino_high(ints, ints_len, l->stat);\n', 2),
    ('      populate_stat(stats_array, &st);\n',
     '      populate_stat(stats_array, &st);\n      populate_stat_ino_high(stats_array, stats_array_len, &st);\n', 1),
]):
    changed.append('ino_high')

if patch('fuse-native.c', 'cellsync: one_time', [
    ('#include <fuse_lowlevel.h>\n', '#include <fuse_lowlevel.h>\n#include <fuse_kernel.h>\n', 1),
    ('// Top-level dispatcher\n',
     '/* cellsync: one_time: libfuse 2 calls utimens only when a setattr sets both times, so a change of one\n'
     '   (tar x: utimensat with UTIME_OMIT for atime; touch -m; touch -a) was dropped. Each request read from\n'
     '   the kernel that sets one time is made to set both, the other as UTIME_OMIT (utimens_arg passes it on).\n'
     '   The kernel channel\'s receive is wrapped: struct fuse_chan begins with its fuse_chan_ops (libfuse 2.x). */\n'
     'static int (*kernel_receive) (struct fuse_chan **chp, char *buf, size_t size);\n\n'
     'static int receive_with_both_times (struct fuse_chan **chp, char *buf, size_t size) {\n'
     '  int res = kernel_receive(chp, buf, size);\n'
     '  if (res < (int) (sizeof(struct fuse_in_header) + sizeof(struct fuse_setattr_in))) return res;\n'
     '  if (((struct fuse_in_header *) buf)->opcode != FUSE_SETATTR) return res;\n'
     '  struct fuse_setattr_in *arg = (struct fuse_setattr_in *) (buf + sizeof(struct fuse_in_header));\n'
     '  uint32_t times = arg->valid & (FATTR_ATIME | FATTR_MTIME);\n'
     '  if (times == FATTR_MTIME) {\n'
     '    arg->valid = (arg->valid | FATTR_ATIME) & ~FATTR_ATIME_NOW;\n'
     '    arg->atime = 0;\n'
     '    arg->atimensec = UTIME_OMIT;\n'
     '  } else if (times == FATTR_ATIME) {\n'
     '    arg->valid = (arg->valid | FATTR_MTIME) & ~FATTR_MTIME_NOW;\n'
     '    arg->mtime = 0;\n'
     '    arg->mtimensec = UTIME_OMIT;\n'
     '  }\n'
     '  return res;\n'
     '}\n\n'
     'static void pass_one_time (struct fuse_chan *ch) {\n'
     '  struct fuse_chan_ops *ops = (struct fuse_chan_ops *) ch;\n'
     '  if (ops->receive == NULL || ops->receive == receive_with_both_times) return;\n'
     '  kernel_receive = ops->receive;\n'
     '  ops->receive = receive_with_both_times;\n'
     '}\n\n'
     '// Top-level dispatcher\n', 1),
    ('  struct fuse_chan *ch = fuse_mount(mnt, &args);\n\n  if (ch == NULL) {\n    napi_throw_error(env, "fuse failed", "fuse failed");\n    return NULL;\n  }\n',
     '  struct fuse_chan *ch = fuse_mount(mnt, &args);\n\n  if (ch == NULL) {\n    napi_throw_error(env, "fuse failed", "fuse failed");\n    return NULL;\n  }\n  pass_one_time(ch);\n', 1),
]):
    changed.append('one_time')

if patch('index.js', 'cellsync: ino_high', [
    ('  const ints = new Uint32Array(18)\n', '  const ints = new Uint32Array(19)\n', 1),
    ('  setDoubleInt(ints, 16, toDateMS(stat && stat.ctime))\n',
     '  setDoubleInt(ints, 16, toDateMS(stat && stat.ctime))\n'
     '  ints[18] = (stat && stat.inoHigh) || 0 // cellsync: ino_high (st_ino = ino + inoHigh * 2^32)\n', 1),
]):
    changed.append('ino_high.js')

print(' '.join(changed))
PY
)
# index.js alone needs no build; any change to the C does.
case " $patched " in *' utimens '*|*' caller '*|*' ino_high '*|*' one_time '*) rm -rf build ;; esac
[ -f build/Release/fuse.node ] && exit 0

nodedir=$(dirname "$(dirname "$(command -v node)")")
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "patch-fuse-native: no C compiler or Node headers: keeping the prebuilt fuse-native (programs cannot set a file's mtime apart from its atime, new files belong to the mount's user, inode numbers are 32-bit)" >&2
  exit 0
fi
log=$(mktemp)
if ! npm_config_build_from_source=true npm_config_nodedir="$nodedir" npx --no-install node-gyp-build >"$log" 2>&1; then
  tail -20 "$log" >&2
  rm -f "$log"
  echo "patch-fuse-native: the build failed (above)" >&2
  exit 1
fi
rm -f "$log"
echo "setup: fuse-native rebuilt (times, caller identity, 64-bit inode numbers)"
