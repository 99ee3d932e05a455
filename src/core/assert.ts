/** Programmer errors crash: an assertion failure means the code is wrong, not the input. */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
