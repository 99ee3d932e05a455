import { readFileSync } from 'node:fs';
import os from 'node:os';

let machine: string | undefined;

/**
 * This machine while it runs: its host name and the kernel's boot id. Two
 * processes with the same machine id see the same files (unless one is in
 * another mount namespace: then local reads find no file and use the
 * network). A cell names it in its LOCAL_GRANT; a client uses the grant of
 * a cell only on the same machine.
 */
export function machineId(): string {
  if (machine === undefined) {
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // Not Linux: the host name alone.
    }
    machine = `${os.hostname()}/${boot}`;
  }
  return machine;
}
