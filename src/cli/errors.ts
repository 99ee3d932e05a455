/** Wrong use of the CLI: printed with a hint, exit code 2 (runtime failures exit 1). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

export function usage(message: string): never {
  throw new UsageError(message);
}
