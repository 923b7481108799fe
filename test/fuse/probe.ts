// Starting probe-server.ts under the harness and reading what it logged.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, mount_with } from '../helpers/fusemount.js';
import type { Mounted } from '../helpers/fusemount.js';
import type { ProbeEvent } from './probe-server.js';

export interface Probe {
  m: Mounted;
  /** every request logged so far */
  events(): Promise<ProbeEvent[]>;
  /** waits (up to `ms`) for a logged request that satisfies `pred` */
  event_wait(pred: (e: ProbeEvent) => boolean, ms?: number): Promise<ProbeEvent>;
}

export async function probe_mount(t: { teardown(fn: () => unknown): void }, ...options: string[]): Promise<Probe> {
  const dir = await mkdtemp(join(tmpdir(), 'cowlog-probe-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'requests.jsonl');
  const m = await mount_with(t, {
    command: process.execPath,
    args: [join(DIST, 'test/fuse/probe-server.js'), '{mnt}', log, ...options],
  });
  const events = async (): Promise<ProbeEvent[]> => {
    let text = '';
    try {
      text = await readFile(log, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ProbeEvent);
  };
  const event_wait = async (pred: (e: ProbeEvent) => boolean, ms = 10_000): Promise<ProbeEvent> => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = (await events()).find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no such request logged within ${ms} ms; server stderr:\n${m.stderr()}`);
      await new Promise((ok) => setTimeout(ok, 20));
    }
  };
  return { m, events, event_wait };
}
