"""The workloads of bench:mount, run against one directory (a local disk, the
passthrough mount or a CellSync mount). Prints one JSON object.
Usage: python3 fsbench.py DIR SEQ_MIB FILES RANDOM_OPS"""
import json, os, random, subprocess, sys, time

d, seq_mib, files, rand_ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
MiB = 1 << 20
out = {}

def drop_caches():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')
    # A file system with caches of its own (CellSync's chunk cache) empties them too (SIGUSR2 to its mount).
    if os.environ.get('FSBENCH_DROP_CMD'):
        subprocess.run(os.environ['FSBENCH_DROP_CMD'], shell=True, check=True, stdout=subprocess.DEVNULL)

# Every MiB differs (a counter in its first bytes): a content-addressed store must not
# get away with storing one chunk 512 times, nor a reader with fetching it once.
block = bytearray(os.urandom(MiB))
path = os.path.join(d, 'seq.bin')
t = time.perf_counter()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(seq_mib):
    block[0:8] = i.to_bytes(8, 'little')
    os.write(fd, block)
os.fsync(fd)
os.close(fd)
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

fd = os.open(path, os.O_WRONLY)
buf = os.urandom(4096)
t = time.perf_counter()
for off in offsets:
    os.pwrite(fd, buf, off)
os.fsync(fd)
os.close(fd)
out['randWriteIops'] = rand_ops / (time.perf_counter() - t)
print(json.dumps(out))
