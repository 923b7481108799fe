// Assertions that are never stripped. A failed assertion is a bug in cowlog, not bad input:
// bad input from disk is reported with CorruptError instead.

export class AssertionError extends Error {
  constructor(message: string) {
    super(`cowlog invariant broken: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionError(typeof message === 'function' ? message() : message);
}
