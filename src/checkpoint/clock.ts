// Time, injected: the engine never reads the clock itself, so a test can fix it and replay a
// run exactly.

export interface Timespec {
  s: number;
  ns: number;
}

export type Clock = () => Timespec;

/**
 * The wall clock with nanosecond resolution: hrtime anchored to Date.now() once. The anchor is
 * the reading with the least time between the two clocks (a process descheduled between them,
 * on a loaded machine, would otherwise run every time it gives late by as long, milliseconds)
 * and is taken from the later hrtime, so the clock is never ahead of the real time and behind
 * it by less than Date.now()'s millisecond plus that gap.
 */
export function clock_wall(): Clock {
  let base = 0n;
  let gap = -1n;
  for (let i = 0; i < 8; i++) {
    const h0 = process.hrtime.bigint();
    const d = BigInt(Date.now()) * 1_000_000n;
    const h1 = process.hrtime.bigint();
    if (gap < 0n || h1 - h0 < gap) { gap = h1 - h0; base = d - h1; }
  }
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
