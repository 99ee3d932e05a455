import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { chunkKeyOf } from '../../src/core/index.js';
import { chunkFiles, mountSwarm, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

/** Runs a workload and reports each step's output; `set -e` makes the first failing command fail the test. */
async function workload(t: import('ava').ExecutionContext, script: string, cwd?: string) {
  const r = await sh(`set -euo pipefail\n${script}`, { cwd, timeoutMs: 180_000 });
  if (r.code !== 0) t.log(r.stdout, r.stderr);
  t.is(r.code, 0, r.stderr);
  return r.stdout;
}

test('cp -r of a varied tree: diff -r and sha256sum agree; mv, rm -rf, mkdir -p, ln -s, chmod, chown, touch -d, truncate, >>, dd', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  // Chunks of 1 MiB: big.bin spans three, exact-chunk.bin exactly one (checked below, on the cells' disks).
  const chunk = 1024 * 1024;
  const { mnt } = await mountSwarm(t, home, undefined, ['--chunk-size', String(chunk)]);
  await workload(
    t,
    `
    mkdir -p "photos/sub dir/ünïcødé ✓" photos/empty-dir
    head -c 3000000 /dev/urandom > photos/big.bin            # several chunks
    head -c ${chunk} /dev/urandom > photos/exact-chunk.bin     # exactly one chunk
    echo tiny > "photos/sub dir/ünïcødé ✓/small file.txt"
    : > photos/empty
    ln -s big.bin photos/link
    cp -r photos "${mnt}/"
    diff -r photos "${mnt}/photos"
    (cd photos && find . -type f -exec sha256sum {} + | sort) > /tmp/want.$$
    (cd "${mnt}/photos" && find . -type f -exec sha256sum {} + | sort) > /tmp/got.$$
    cmp /tmp/want.$$ /tmp/got.$$ && rm /tmp/want.$$ /tmp/got.$$
    test "$(readlink "${mnt}/photos/link")" = big.bin
    M="${mnt}/photos"
    mv "$M/big.bin" "$M/sub dir/moved.bin" && test ! -e "$M/big.bin" && cmp photos/big.bin "$M/sub dir/moved.bin"
    mv "$M/sub dir/moved.bin" "$M/exact-chunk.bin"            # rename over an existing file
    cmp photos/big.bin "$M/exact-chunk.bin"
    mkdir -p "$M/a/b/c/d" && test -d "$M/a/b/c/d"
    chmod 640 "$M/empty" && test "$(stat -c %a "$M/empty")" = 640
    chown 65534:65534 "$M/empty" && test "$(stat -c %u:%g "$M/empty")" = 65534:65534
    touch -d '2001-02-03 04:05:06' "$M/empty" && test "$(stat -c %Y "$M/empty")" = "$(date -d '2001-02-03 04:05:06' +%s)"
    echo one > "$M/log" && echo two >> "$M/log" && test "$(cat "$M/log")" = "$(printf 'one\\ntwo')"
    truncate -s 10 "$M/log" && test "$(stat -c %s "$M/log")" = 10 && test "$(head -c 8 "$M/log")" = "$(printf 'one\\ntwo')"
    truncate -s 2000000 "$M/log" && test "$(stat -c %s "$M/log")" = 2000000 && test "$(tail -c 100 "$M/log" | tr -d '\\0' | wc -c)" = 0
    cp photos/exact-chunk.bin /tmp/ref.$$ && cp photos/exact-chunk.bin "$M/dd.bin"
    printf 'PATCH' | dd of=/tmp/ref.$$ bs=1 seek=${chunk - 6} conv=notrunc status=none
    printf 'PATCH' | dd of="$M/dd.bin" bs=1 seek=${chunk - 6} conv=notrunc status=none
    cmp /tmp/ref.$$ "$M/dd.bin" && rm /tmp/ref.$$
    rm -rf "$M/sub dir" "$M/a" && test ! -e "$M/sub dir" && test ! -e "$M/a"
    `,
    src,
  );
  // The files were stored in the chunks their names claim: each chunk's key is the hash of its bytes.
  const stored = new Set((await Promise.all((await swarmCells(home)).map(chunkFiles))).flat().map((f) => path.basename(f)));
  const exact = await readFile(path.join(src, 'photos', 'exact-chunk.bin'));
  t.is(exact.length, chunk);
  t.true(stored.has(chunkKeyOf(exact)), 'exact-chunk.bin is one chunk, its whole bytes');
  const big = await readFile(path.join(src, 'photos', 'big.bin'));
  const bigChunks = [0, 1, 2].map((i) => big.subarray(i * chunk, (i + 1) * chunk));
  t.is(bigChunks[2]!.length, big.length - 2 * chunk, 'big.bin ends in its third chunk');
  t.true(bigChunks.every((c) => stored.has(chunkKeyOf(c))), 'big.bin is three chunks');
});

test('tar x, rsync -a, find, du, df, git, sparse files, and a file larger than the write-back buffer', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  const { mnt } = await mountSwarm(t, home);
  const out = await workload(
    t,
    `
    mkdir -p tree/a/b && for i in $(seq 1 30); do head -c $((i * 997)) /dev/urandom > tree/a/f$i; done
    echo hello > tree/a/b/deep
    tar -cf tree.tar tree
    mkdir "${mnt}/untar" && tar -C "${mnt}/untar" -xf tree.tar && diff -r tree "${mnt}/untar/tree"
    rsync -a tree/ "${mnt}/synced/" && diff -r tree "${mnt}/synced"
    test "$(find "${mnt}/synced" -type f | wc -l)" = 31
    du -s "${mnt}/synced" | awk '{ exit !($1 > 0) }'
    df -P "${mnt}" | tail -1 | awk '{ exit !($2 > 0) }'
    cd "${mnt}" && mkdir repo && cd repo && git init -q . && git config user.email t@example.com && git config user.name t
    echo first > file && git add file && git commit -qm first && echo second >> file && git commit -qam second
    test "$(git log --oneline | wc -l)" = 2 && git status --porcelain | wc -l | grep -qx 0
    cd "${mnt}"
    dd if=/dev/zero of=sparse bs=1 count=1 seek=30000000 status=none
    test "$(stat -c %s sparse)" = 30000001 && cmp sparse <(head -c 30000001 /dev/zero)
    head -c 80000000 /dev/urandom > "${src}/big"
    cp "${src}/big" "${mnt}/big" && cmp "${src}/big" "${mnt}/big"
    : > empty && test "$(stat -c %s empty)" = 0 && test "$(cat empty | wc -c)" = 0
    echo done
    `,
    src,
  );
  t.regex(out, /done/);
});
