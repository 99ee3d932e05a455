import createDebug from 'debug';

/** Hash-like ids print as their first 8 hex digits: %k in any cellsync logger. */
createDebug.formatters.k = (v: unknown) => String(v).slice(0, 8);

/** A debug logger named cellsync:<part>, with an optional per-cell prefix so in-process clusters can be told apart. */
export function logger(part: string, prefix?: string): createDebug.Debugger {
  const log = createDebug(`cellsync:${part}`);
  if (!prefix) return log;
  const wrapped = ((fmt: unknown, ...args: unknown[]) => log(`[${prefix}] ${String(fmt)}`, ...args)) as createDebug.Debugger;
  return Object.assign(wrapped, { enabled: log.enabled, namespace: log.namespace });
}
