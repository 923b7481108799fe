// Time, injected: the engine never reads the clock itself, so a test can fix it and replay a
// run exactly.

export interface Timespec {
  s: number;
  ns: number;
}

export type Clock = () => Timespec;

/** The wall clock with nanosecond resolution (hrtime anchored to Date.now() once). */
export function clock_wall(): Clock {
  const base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return () => {
    const t = base + process.hrtime.bigint();
    return { s: Number(t / 1_000_000_000n), ns: Number(t % 1_000_000_000n) };
  };
}

/** A clock for tests: starts at `start` seconds and advances `stepNs` per reading. */
export function clock_fixed(start = 1_700_000_000, stepNs = 1000): Clock {
  let s = start;
  let ns = 0;
  return () => {
    const now = { s, ns };
    ns += stepNs;
    while (ns >= 1_000_000_000) { ns -= 1_000_000_000; s++; }
    return now;
  };
}

export function timespec_ms(t: Timespec): number {
  return t.s * 1000 + Math.floor(t.ns / 1_000_000);
}
