#!/usr/bin/env bash
# Rebuilds fuse-native 2.2.6 from its own source with one fix (see
# native-notes/README.md, "Timestamps"): its C layer hands utimens the
# access time twice, so the modification time a program sets (cp -p,
# rsync -a, touch -d with two times) was lost. The fix passes the
# modification time, and UTIME_OMIT and UTIME_NOW as values JavaScript can
# tell apart (tar x, which sets mtime alone, still loses it: libfuse 2
# drops a change of one time). Idempotent; if the build cannot run here (no C compiler or no
# Node headers), the prebuilt binary stays and setup says what is lost.
set -euo pipefail
cd "$(dirname "$0")/../node_modules/fuse-native"

src=fuse-native.c
if ! grep -q 'cellsync: utimens_arg' "$src"; then
  grep -q 'FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)' "$src" || { echo "patch-fuse-native: $src is not the expected 2.2.6 source" >&2; exit 1; }
  python3 - "$src" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
helper = '''static uint64_t timespec_to_uint64 (const struct timespec* ts) {'''
s = s.replace(helper, '''/* cellsync: utimens_arg: UTIME_OMIT and UTIME_NOW as 2^53-1 and 2^53-2 (exact as JavaScript numbers). */
static uint64_t utimens_arg (const struct timespec* ts);
''' + helper, 1)
s = s.replace('''  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);''', '''  l->atime = utimens_arg(&tv[0]);
  l->mtime = utimens_arg(&tv[1]);''', 1)
s = s.replace('FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)', 1)
s = s.replace('''static void populate_stat (''', '''static uint64_t utimens_arg (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 9007199254740991ULL;
  if (ts->tv_nsec == UTIME_NOW) return 9007199254740990ULL;
  return timespec_to_uint64(ts);
}

static void populate_stat (''', 1)
open(p, 'w').write(s)
PY
  rm -rf build
fi
[ -f build/Release/fuse.node ] && exit 0

nodedir=$(dirname "$(dirname "$(command -v node)")")
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || [ ! -f "$nodedir/include/node/node_api.h" ]; then
  echo "patch-fuse-native: no C compiler or Node headers: keeping the prebuilt fuse-native (programs cannot set a file's mtime apart from its atime)" >&2
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
echo "setup: fuse-native rebuilt with the utimens fix"
