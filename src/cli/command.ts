// The shape of a cowlog subcommand. Each subcommand lives in its own file (cmd_*.ts) and is
// listed once in main.ts.

export interface Command {
  /** the word after `cowlog` */
  name: string;
  /** one line for `cowlog --help` */
  summary: string;
  /** the full text for `cowlog NAME --help` */
  help: string;
  /** runs the command; resolves to the process exit code */
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed as one line plus "try cowlog NAME --help", exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses a size such as 64M, 1G, 4096, 128k (powers of 1024). */
export function size_parse(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`not a size: '${text}' (examples: 64M, 1G, 4096)`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.round(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
}

export function bytes_human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}
