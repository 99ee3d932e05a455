"""The workloads of bench:mount, run against one directory (a local disk, the
passthrough mount or a CellSync mount). Prints one JSON object.
Usage: python3 fsbench.py DIR SEQ_MIB FILES RANDOM_OPS
More sizes come from the environment (bench/mount.ts sets them):
  FSBENCH_TREE_DIRS, FSBENCH_TREE_FILES  the find/stat/du tree: dirs x files per dir (200 x 100)
  FSBENCH_DIRECT_MIB                     the file of the O_DIRECT random writes (256 MiB)
  FSBENCH_DROP_CMD                       a shell command that empties the file system's own caches"""
import json, mmap, os, random, shutil, subprocess, sys, time

d, seq_mib, files, rand_ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tree_dirs = int(os.environ.get('FSBENCH_TREE_DIRS', '200'))
tree_files = int(os.environ.get('FSBENCH_TREE_FILES', '100'))
direct_mib = int(os.environ.get('FSBENCH_DIRECT_MIB', '256'))
MiB = 1 << 20
out = {}

def drop_caches():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')
    # A file system with caches of its own (CellSync's chunk cache) empties them too (SIGUSR2 to its mount).
    if os.environ.get('FSBENCH_DROP_CMD'):
        subprocess.run(os.environ['FSBENCH_DROP_CMD'], shell=True, check=True, stdout=subprocess.DEVNULL)

def timed_shell(cmd):
    """Seconds a shell command takes (its output discarded); a failure ends the run."""
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t

def write_file(path, mib):
    # Every MiB differs (a counter in its first bytes): a content-addressed store must not
    # get away with storing one chunk many times, nor a reader with fetching it once.
    block = bytearray(os.urandom(MiB))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(mib):
        block[0:8] = i.to_bytes(8, 'little')
        os.write(fd, block)
    os.fsync(fd)
    os.close(fd)

path = os.path.join(d, 'seq.bin')
t = time.perf_counter()
write_file(path, seq_mib)
out['seqWriteMBs'] = seq_mib / (time.perf_counter() - t)

drop_caches()
t = time.perf_counter()
fd = os.open(path, os.O_RDONLY)
while os.read(fd, MiB):
    pass
os.close(fd)
out['seqReadMBs'] = seq_mib / (time.perf_counter() - t)

small = os.path.join(d, 'small')
os.mkdir(small)
payload = b'x' * 1024
t = time.perf_counter()
for i in range(files):
    with open(os.path.join(small, f'f{i:05d}'), 'wb') as f:
        f.write(payload)
names = os.listdir(small)
assert len(names) == files
out['createFilesPerSec'] = files / (time.perf_counter() - t)

# `ls -l` cold: every entry's lookup and attributes come from the file system, not a cache.
drop_caches()
out['lsLongSec'] = timed_shell(f"ls -l '{small}'")
out['rmRfSec'] = timed_shell(f"rm -rf '{small}'")
assert not os.path.exists(small)

rng = random.Random(1)
size = os.path.getsize(path)
offsets = [rng.randrange(0, size // 4096) * 4096 for _ in range(rand_ops)]
drop_caches()
fd = os.open(path, os.O_RDONLY)
t = time.perf_counter()
for off in offsets:
    os.pread(fd, 4096, off)
out['randReadIops'] = rand_ops / (time.perf_counter() - t)
os.close(fd)

# Buffered random writes, one fsync at the end (an editor's save, a database's checkpoint).
fd = os.open(path, os.O_WRONLY)
buf = os.urandom(4096)
t = time.perf_counter()
for off in offsets:
    os.pwrite(fd, buf, off)
os.fsync(fd)
os.close(fd)
out['randWriteIops'] = rand_ops / (time.perf_counter() - t)

# fio-style random 4 KiB writes, QD1, O_DIRECT (fio --rw=randwrite --bs=4k --direct=1 --iodepth=1):
# O_DIRECT wants an aligned buffer, which an anonymous mmap is. Timed as fio times them: the writes only.
dpath = os.path.join(d, 'direct.bin')
write_file(dpath, direct_mib)
drop_caches()
aligned = mmap.mmap(-1, 4096)
aligned.write(os.urandom(4096))
direct_offsets = [rng.randrange(0, direct_mib * MiB // 4096) * 4096 for _ in range(rand_ops)]
fd = os.open(dpath, os.O_WRONLY | os.O_DIRECT)
t = time.perf_counter()
for off in direct_offsets:
    os.pwrite(fd, aligned, off)
out['directWriteIops'] = rand_ops / (time.perf_counter() - t)
os.close(fd)
os.unlink(dpath)

# A tree of tree_dirs x tree_files small files (a source tree): `find` + `stat` of every file, then `du -s`,
# each cold. Made untimed.
tree = os.path.join(d, 'tree')
os.mkdir(tree)
for i in range(tree_dirs):
    sub = os.path.join(tree, f'd{i:04d}')
    os.mkdir(sub)
    for j in range(tree_files):
        with open(os.path.join(sub, f'f{j:04d}.c'), 'wb') as f:
            f.write(payload[:100])
drop_caches()
out['findStatSec'] = timed_shell(f"find '{tree}' -type f -print0 | xargs -0 stat")
drop_caches()
out['duSec'] = timed_shell(f"du -s '{tree}'")
print(json.dumps(out))
