// `cowlog` — the command-line entry point. Every subcommand is its own file; this file only
// dispatches and turns errors into one-line messages and exit codes.

import type { Command } from './command.js';
import { UsageError } from './command.js';
import { FsError } from '../util/errors.js';
import { AssertionError } from '../util/assert.js';

const commands: Command[] = [
  // one line per subcommand, in the order --help lists them
];

export function commands_register(...cmds: Command[]): void {
  commands.push(...cmds);
}

function help_top(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return [
    'cowlog — a log-structured copy-on-write filesystem with snapshots and wear heatmaps',
    '',
    'usage: cowlog COMMAND [ARGS...]     (cowlog COMMAND --help for details)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 success, 1 failure, 2 usage error; fsck: 0 clean, 4 errors found, 8 could not check.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help_top() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write('cowlog 0.1.0\n');
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`cowlog: unknown command '${name}' (try cowlog --help)\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help.trimEnd() + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`cowlog ${name}: ${e.message} (try cowlog ${name} --help)\n`);
      return 2;
    }
    if (e instanceof FsError) {
      process.stderr.write(`cowlog ${name}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof AssertionError) {
      process.stderr.write(`cowlog ${name}: ${e.message}\n(this is a bug in cowlog; the stack follows)\n${e.stack ?? ''}\n`);
      return 70;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      process.stderr.write(`cowlog ${name}: ${err.message}\n`);
      return 1;
    }
    throw e;
  }
}
