/**
 * bench:wire — chunk PUT and GET throughput between this process (a client)
 * and one real cell process on loopback, 1 MiB chunks, against a raw UDP
 * blast between two Node processes measured in the same run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, ROOT, run } from './run.js';
import { connectSwarm } from '../src/connect/index.js';
import { chunkKeyOf } from '../src/core/index.js';
import { MessageType, encodeKey, encodePut } from '../src/wire/index.js';

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 128);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const MiB = 1024 * 1024;


async function rawBlast(bytes: number): Promise<number> {
  const script = path.join(ROOT, 'dist', 'bench', 'raw-udp.js');
  const recv = spawn(process.execPath, [script, 'recv'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const next = () =>
    new Promise<string>((resolve) => {
      const check = () => {
        if (lines.length) return resolve(lines.shift()!);
        recv.stdout.once('data', (d) => {
          buf += d;
          const parts = buf.split('\n');
          buf = parts.pop()!;
          lines.push(...parts.filter(Boolean));
          check();
        });
      };
      check();
    });
  const { port } = JSON.parse(await next()) as { port: number };
  await run(process.execPath, [script, 'send', String(port), String(bytes)]);
  const { bytes: got, ms } = JSON.parse(await next()) as { bytes: number; ms: number };
  return got / MiB / (ms / 1000);
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cellsync-bench-'));
  const home = path.join(dir, 'home');
  const data = path.join(home, 'cells', 'a');
  try {
    await run(CLI, ['init', '--home', home]);
    const started = await run(CLI, ['cell', 'start', '--home', home, '--data', data, '--daemon']);
    const addr = /serving on (\S+)/.exec(started)![1]!;
    const client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
    const chunks = Array.from({ length: CHUNKS }, () => randomBytes(MiB));
    const keys = chunks.map(chunkKeyOf);

    let t0 = performance.now();
    await pool(chunks.map((c, i) => [c, keys[i]!] as const), CONCURRENCY, async ([c, k]) => {
      await client.endpoint.request(addr, MessageType.CHUNK_PUT, encodePut(k, c, { replicas: 1, isManifest: false }));
    });
    const putMBs = CHUNKS / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    await pool(keys, CONCURRENCY, async (k) => {
      const got = await client.endpoint.request(addr, MessageType.CHUNK_GET, encodeKey(k));
      if (chunkKeyOf(got) !== k) throw new Error('GET returned wrong bytes');
    });
    const getMBs = CHUNKS / ((performance.now() - t0) / 1000);
    const retransmitted = client.endpoint.counters.retransmitted;
    await client.close();
    await run(CLI, ['cell', 'stop', '--home', home, '--data', data]);

    const rawMBs = await rawBlast(CHUNKS * MiB);
    const row = (name: string, v: number) => console.log(`${name.padEnd(34)} ${v.toFixed(1).padStart(8)} MB/s   ${(v / rawMBs).toFixed(2)}x raw`);
    console.log(`bench:wire  ${CHUNKS} x 1 MiB chunks, concurrency ${CONCURRENCY}, loopback`);
    row('raw UDP blast (baseline)', rawMBs);
    row('chunk PUT (MAC, acks, fsync)', putMBs);
    row('chunk GET (MAC, acks, verify)', getMBs);
    console.log(`client retransmissions: ${retransmitted}`);
  } finally {
    await run(CLI, ['cell', 'stop', '--home', home, '--data', data]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench:wire failed: ${(err as Error).message}`);
  process.exit(1);
});
