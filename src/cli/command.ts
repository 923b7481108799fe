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

export interface ArgSpec {
  /** options without a value (--force, -n) */
  flags?: readonly string[];
  /** options taking one value (--label L or --label=L) */
  values?: readonly string[];
  /** options that may be given several times */
  repeated?: readonly string[];
}

export interface Args {
  pos: string[];
  flags: Set<string>;
  values: Map<string, string>;
  many: Map<string, string[]>;
}

/** Parses argv against spec; unknown options and missing values are usage errors. */
export function args_parse(argv: readonly string[], spec: ArgSpec): Args {
  const out: Args = { pos: [], flags: new Set(), values: new Map(), many: new Map() };
  const flags = spec.flags ?? [];
  const values = spec.values ?? [];
  const repeated = spec.repeated ?? [];
  let rest = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (rest || !a.startsWith('-') || a === '-') { out.pos.push(a); continue; }
    if (a === '--') { rest = true; continue; }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (flags.includes(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    if (!values.includes(name) && !repeated.includes(name)) throw new UsageError(`unknown option ${name}`);
    const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    if (repeated.includes(name)) out.many.set(name, [...(out.many.get(name) ?? []), v]);
    else out.values.set(name, v);
  }
  return out;
}

/** A non-negative integer option, or undefined when absent. */
export function int_arg(a: Args, name: string): number | undefined {
  const v = a.values.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, not '${v}'`);
  return n;
}

/** Exactly n positional arguments, named for the message. */
export function pos_exact(a: Args, names: readonly string[]): string[] {
  if (a.pos.length !== names.length) {
    throw new UsageError(a.pos.length < names.length ? `missing ${names.slice(a.pos.length).join(' ')}` : `unexpected argument '${a.pos[names.length]}'`);
  }
  return a.pos;
}
