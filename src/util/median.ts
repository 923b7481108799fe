// The median of a list of numbers: the middle one, or the mean of the two middle ones; 0 for
// none. Used where a few noisy measurements are summed up (bench rounds, trace waits).

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
