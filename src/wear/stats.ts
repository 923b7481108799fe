// The wear figures of shared/DESIGN.md, computed one way for every filesystem:
// - host bytes: bytes of write requests during the run;
// - WAF: host bytes / bytes the workload asked to write;
// - hottest block: the largest per-block write count;
// - wear spread: hottest / mean of blocks written, and the coefficient of variation
//   (population standard deviation / mean) over the blocks written.

export interface WearStats {
  blocks: number;
  blocksWritten: number;
  blocksNeverWritten: number;
  blockWrites: number;
  hottestBlock: number;
  hottestCount: number;
  meanOfWritten: number;
  spread: number;
  cv: number;
}

export function wear_stats(counts: Uint32Array): WearStats {
  let written = 0, sum = 0, hot = -1, hotCount = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    written++;
    sum += c;
    if (c > hotCount) { hotCount = c; hot = i; }
  }
  const mean = written ? sum / written : 0;
  let sq = 0;
  if (written) {
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c !== 0) sq += (c - mean) * (c - mean);
    }
  }
  const sd = written ? Math.sqrt(sq / written) : 0;
  return {
    blocks: counts.length,
    blocksWritten: written,
    blocksNeverWritten: counts.length - written,
    blockWrites: sum,
    hottestBlock: hot,
    hottestCount: hotCount,
    meanOfWritten: mean,
    spread: mean ? hotCount / mean : 0,
    cv: mean ? sd / mean : 0,
  };
}

/** Write amplification: host bytes / bytes asked. */
export function waf(hostBytes: number | bigint, askedBytes: number | bigint): number {
  const a = Number(askedBytes);
  return a > 0 ? Number(hostBytes) / a : 0;
}
