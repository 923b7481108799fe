// Registers every subcommand, then runs main(). Kept apart from main.ts so that a subcommand
// file may import main.ts's helpers without an import cycle.
import { main, commands_register } from './main.js';
import { cmd_mkfs } from './cmd_mkfs.js';
import { cmd_fsck } from './cmd_fsck.js';
import { cmd_info } from './cmd_info.js';
import { cmd_wear } from './cmd_wear.js';
import { cmd_mount } from './cmd_mount.js';
import { cmd_umount } from './cmd_umount.js';
import { cmd_snapshot } from './cmd_snapshot.js';
import { cmd_crash_table } from './cmd_crash_table.js';
import { cmd_trace } from './cmd_trace.js';
import { cmd_top } from './cmd_top.js';
import { cmd_sync } from './cmd_sync.js';
import { cmd_bench } from './cmd_bench.js';

commands_register(
  // cmd_*.ts modules are listed here, one per line
  cmd_mkfs,
  cmd_fsck,
  cmd_info,
  cmd_wear,
  cmd_mount,
  cmd_umount,
  cmd_sync,
  cmd_snapshot,
  cmd_crash_table,
  cmd_trace,
  cmd_top,
  cmd_bench,
);

/**
 * Ends the process once what it printed has been taken: an explicit exit, not an event loop left
 * to drain. Node 20 can hang for ever in the drain's wait for V8's background tasks
 * (nodejs/node#54918): seen here as a `cowlog trace` that never exited after Ctrl-C, which
 * stalled the benchmark that had started it.
 */
function exit_after_output(code: number): void {
  process.exitCode = code;
  let waiting = 2;
  const done = (): void => { if (--waiting === 0) process.exit(code); };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv.slice(2)).then(
  (code) => exit_after_output(code),
  (e: unknown) => {
    process.stderr.write(`cowlog: ${(e as Error)?.stack ?? String(e)}\n`);
    exit_after_output(70);
  },
);
