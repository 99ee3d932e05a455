/**
 * The reader of bench:failover, in its own process as an application would
 * be: opens the file, reads 4 KiB to 1 MiB at a random offset, closes it
 * (each open drops the kernel's cached pages of a FUSE file without
 * keep_cache, so every read reaches the mount, and its lookup is timed too),
 * until SIGTERM. Prints one line per read: its wall-clock end (ms) and how
 * long it took (ms).
 */
import { open, stat } from 'node:fs/promises';

const KiB = 1024;
const file = process.argv[2]!;
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

async function main(): Promise<void> {
  const { size } = await stat(file);
  const buf = Buffer.alloc(1024 * KiB);
  while (!stopping) {
    const length = 4 * KiB * (1 + Math.floor(Math.random() * 256));
    const position = Math.floor(Math.random() * (size - length));
    const t0 = performance.now();
    const fh = await open(file, 'r');
    await fh.read(buf, 0, length, position);
    await fh.close();
    const ms = performance.now() - t0;
    process.stdout.write(`${Date.now()} ${ms.toFixed(2)}\n`);
  }
}

main().catch((err) => {
  console.error(`failover reader: ${(err as Error).message}`);
  process.exit(1);
});
