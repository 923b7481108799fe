// The server's log: one line per event, appended to a file named at start (and copied to stderr
// when the server runs in the foreground).
//
// Invariants:
// - Lines are written synchronously with one write(2) each, so a crash loses nothing logged
//   before it and lines of one process never interleave mid-line.
// - The log file never lives inside the mount it describes: the serving process must not touch
//   its own mount (server.ts refuses such a path before opening it).
// - Logging never throws: a full or vanished log disk must not take the mount down with it.

import fs from 'node:fs';
import path from 'node:path';

export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  readonly path: string;
  log(level: LogLevel, msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  close(): void;
}

/** Opens (appending, creating its directory) the log at `file`; `echo` copies lines to stderr. */
export function logger_open(file: string, echo: boolean): Logger {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let fd = fs.openSync(file, 'a', 0o640);
  const log = (level: LogLevel, msg: string): void => {
    const line = `${new Date().toISOString()} [${process.pid}] ${level}: ${msg}\n`;
    if (fd >= 0) {
      try {
        fs.writeSync(fd, line);
      } catch {
        // the log disk failed; the mount goes on
      }
    }
    if (echo) {
      try {
        process.stderr.write(line);
      } catch {
        // stderr closed
      }
    }
  };
  return {
    path: file,
    log,
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
    close: () => {
      if (fd < 0) return;
      try { fs.closeSync(fd); } catch { /* already gone */ }
      fd = -1;
    },
  };
}

/** A logger that only keeps the lines (tests, and before the log file is known). */
export function logger_memory(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: LogLevel, msg: string): void => { lines.push(`${level}: ${msg}`); };
  return {
    path: '',
    lines,
    log,
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
    close: () => {},
  };
}
