// The mix knobs of the workload profiles: which profile takes which knob, the range each accepts,
// and the one-line error a bad value gets (before any trace is written, so before anything is
// formatted). The generator and the CLI share this table, so `--help`, the checks and the
// profiles can not disagree.
//
// Invariants:
// - a knob given to a profile that does not take it is an error, never silently ignored;
// - a share is a percentage in its range (0 allowed: "none of that"), a count a safe integer;
// - knob_values returns every knob of the profile, the defaults filled in, so a trace's header
//   records the whole mix it was made with.

export type KnobName = 'textPct' | 'fsyncPct' | 'overwritePct' | 'metaPct' | 'dirsyncPct' | 'checkpointEvery';

export interface KnobDef {
  /** the command-line flag */
  flag: string;
  /** what it sets, for --help and errors */
  what: string;
  lo: number;
  hi: number;
  /** whole numbers only */
  integer: boolean;
  /** profile → default (null: the profile's own mix, described in docs/WORKLOAD.md); a profile
   *  not listed does not take the knob */
  defaults: Record<string, number | null>;
}

export const KNOBS: Record<KnobName, KnobDef> = {
  textPct: {
    flag: '--text-pct', what: 'share of written content that is text, the rest incompressible', lo: 0, hi: 100, integer: false,
    defaults: { smallsync: 70, mixed: 50, inplace: 70, wal: 50, maildir: 90 },
  },
  fsyncPct: {
    flag: '--fsync-pct', what: 'share of writes followed by an fsync of their file', lo: 0, hi: 100, integer: false,
    // mixed's own mix when the knob is not given: 30 % of new files, 20 % of other writes
    defaults: { mixed: null },
  },
  overwritePct: {
    flag: '--overwrite-pct', what: 'share of writes that overwrite 1 B-4 KiB inside a file', lo: 0, hi: 100, integer: false,
    defaults: { inplace: 33 },
  },
  metaPct: {
    flag: '--meta-pct', what: 'share of operations that are chmod/rename/truncate', lo: 0, hi: 90, integer: false,
    defaults: { inplace: 15 },
  },
  dirsyncPct: {
    flag: '--dirsync-pct', what: 'share of deliveries followed by an fsync of new/', lo: 0, hi: 100, integer: false,
    defaults: { maildir: 100 },
  },
  checkpointEvery: {
    flag: '--checkpoint-every', what: 'transactions between checkpoints of the WAL (±25 %)', lo: 1, hi: 100_000, integer: true,
    defaults: { wal: 200 },
  },
};

export type Knobs = Partial<Record<KnobName, number>>;

/** A knob value that can not be used: the message is one line naming the flag. */
export class KnobError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'KnobError';
  }
}

/** The profiles that take `k`, for messages. */
function takers(k: KnobName): string {
  return Object.keys(KNOBS[k].defaults).join(', ');
}

/** Every knob of a profile: its value, or null where the profile keeps its own mix. */
export type KnobValues = Partial<Record<KnobName, number | null>>;

/** Checks the knobs given for `profile`; returns every knob of the profile with defaults filled in. */
export function knob_values(profile: string, given: Knobs): KnobValues {
  const out: KnobValues = {};
  for (const [k, v] of Object.entries(given) as Array<[KnobName, number | undefined]>) {
    if (v === undefined) continue;
    const d = KNOBS[k];
    if (d === undefined) throw new KnobError(`unknown knob '${k}'`);
    if (!(profile in d.defaults)) throw new KnobError(`${d.flag} does not apply to profile '${profile}' (it applies to: ${takers(k)})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < d.lo || v > d.hi || (d.integer && !Number.isSafeInteger(v))) {
      const kind = d.integer ? 'an integer' : d.hi === 100 && d.lo === 0 ? 'a percentage' : 'a number';
      throw new KnobError(`${d.flag} must be ${kind} from ${d.lo} to ${d.hi}, not '${String(v)}'`);
    }
    out[k] = v;
  }
  for (const [k, d] of Object.entries(KNOBS) as Array<[KnobName, KnobDef]>) {
    const dflt = d.defaults[profile];
    if (dflt !== undefined && out[k] === undefined) out[k] = dflt;
  }
  return out;
}

/** Parses a knob's text from the command line ("30", "30%"); the range is checked by knob_values. */
export function knob_parse(k: KnobName, text: string): number {
  const n = Number(text.replace(/%$/, ''));
  if (text.trim() === '' || !Number.isFinite(n)) throw new KnobError(`${KNOBS[k].flag} must be a number, not '${text}'`);
  return n;
}

/** The knobs as --help lines. */
export function knobs_help(): string {
  return (Object.values(KNOBS) as KnobDef[])
    .map((d) => {
      const name = `${d.flag} ${d.integer ? 'N' : 'PCT'}`;
      const lead = name.length < 19 ? name.padEnd(19) : `${name}\n${' '.repeat(25)}`;
      return `      ${lead}${d.what}\n${' '.repeat(25)}(${Object.entries(d.defaults).map(([p, v]) => v === null ? `${p}: its own mix` : `${p} ${v}`).join(', ')})`;
    })
    .join('\n');
}
