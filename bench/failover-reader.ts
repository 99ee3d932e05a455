/**
 * The reader of bench:failover, in its own process as an application would
 * be: has the mount drop its caches (SIGUSR2 to its pid), opens the file,
 * reads 4 KiB to readBytesMax at a random offset, closes it (an open drops
 * the kernel's cached pages of the file), until SIGTERM: every read reaches
 * the swarm, its lookup too. Prints one line per read: its wall-clock end
 * (ms) and how long it took (ms).
 * Arguments: file, mount pid, readBytesMax.
 */
import { open, stat } from 'node:fs/promises';

const KiB = 1024;
const [file, mountPid, readBytesMax] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

async function main(): Promise<void> {
  const { size } = await stat(file);
  const buf = Buffer.alloc(readBytesMax);
  while (!stopping) {
    const length = 4 * KiB * (1 + Math.floor(Math.random() * (readBytesMax / (4 * KiB))));
    const position = Math.floor(Math.random() * (size - length));
    process.kill(mountPid, 'SIGUSR2');
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
