// The control channel from the command line to a running server: a Unix socket in the run
// directory (runtime.ts), found from the mountpoint, speaking JSON lines. Each request is one
// JSON object on one line; the server answers each with one JSON object on one line, in order.
//
//   {"op":"status"}                → {"ok":true,"status":{...ControlStatus}}
//   {"op":"sync"}                  → {"ok":true}            after a checkpoint is durable
//   {"op":"unmount","lazy":false}  → {"ok":true}            after the mount is gone, the final
//                                                            checkpoint written and the wear file
//                                                            saved; the server then exits
//   {"op":"snapshot","reqs":[...]} → {"ok":true,"replies":[...]} after the checkpoint that holds
//                                    them (requests within 20 ms share it; see cmd_snapshot.ts)
//   {"op":"snapshot-list"}         → {"ok":true,"list":[...]} (with "usage":true: the bytes each
//                                    would free, and "heldBytes":N of them all)
//   {"op":"snapshot-diff","a","b"} → {"ok":true,"diff":{"added","removed","changed"}}
//   {"op":"stats"}                 → {"ok":true,"stats":{...}} latency histograms per request kind
//   {"op":"trace","filter":{...}}  → {"ok":true}, then the connection is a stream of events, one
//                                    JSON object per line, until either side closes it (trace.ts)
//   {"op":"top","intervalMs":N}    → {"ok":true}, then a stream of activity snapshots (trace.ts)
//   anything else                  → {"ok":false,"error":"...","errno":"EINVAL"}
//
// Invariants:
// - The socket is mode 0600 in a directory only its owner writes: only the user who mounted
//   (and root) can act on the mount.
// - A request is answered only when what it asks is done; a failure is {"ok":false} with a
//   message a user can act on, never a dropped connection (unless the server died).
// - Lines are at most 64 KiB; a longer one closes the connection.
// - A reply carrying STREAM hands its connection over once the reply line is written: no
//   further line on it is taken for a request, and it no longer counts for drain().

import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import fs from 'node:fs';

export interface ControlRequest {
  op: string;
  lazy?: boolean;
  [key: string]: unknown;
}

export interface ControlStatus {
  pid: number;
  device: string;
  mountpoint: string;
  readOnly: boolean;
  /** why the mount turned read-only after an internal error, or null */
  broken: string | null;
  log: string;
  wear: string | null;
  startedAt: string;
  openHandles: number;
  /** bytes as statfs(2) reports them */
  sizeBytes: number;
  freeBytes: number;
  checkpointSeq: number;
}

/** A reply with this key turns its connection into a stream owned by the function it names. */
export const STREAM = Symbol('control stream');

export interface ControlReply {
  ok: boolean;
  error?: string;
  errno?: string;
  status?: ControlStatus;
  [key: string]: unknown;
  [STREAM]?: (sock: net.Socket) => void;
}

const LINE_MAX = 64 * 1024;

export type ControlHandler = (req: ControlRequest) => Promise<ControlReply>;

export interface ControlServer {
  /** resolves once every request received so far is answered and its answer written */
  drain(): Promise<void>;
  close(): void;
}

/** Listens on `socketPath` (replacing a stale socket file) and answers with `handle`. */
export function control_listen(socketPath: string, handle: ControlHandler): Promise<ControlServer> {
  try { fs.unlinkSync(socketPath); } catch { /* none */ }
  let pending = 0;
  let waiters: (() => void)[] = [];
  const settle = (): void => {
    if (--pending > 0) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const server = net.createServer((sock) => {
    let buf = '';
    let chain = Promise.resolve();
    let streaming = false;
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (d: string) => {
      if (streaming) return;
      buf += d;
      if (buf.length > LINE_MAX && !buf.includes('\n')) { sock.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        pending++;
        chain = chain.then(async () => {
          if (streaming) { settle(); return; }
          let reply: ControlReply;
          try {
            const req = JSON.parse(line) as unknown;
            if (req === null || typeof req !== 'object' || typeof (req as ControlRequest).op !== 'string') {
              reply = { ok: false, error: 'a request is a JSON object with a string "op"', errno: 'EINVAL' };
            } else {
              reply = await handle(req as ControlRequest);
            }
          } catch (e) {
            reply = { ok: false, error: (e as Error).message, errno: (e as { code?: string }).code ?? 'EIO' };
          }
          if (sock.destroyed) { settle(); return; }
          sock.write(JSON.stringify(reply) + '\n', () => settle());
          const stream = reply[STREAM];
          if (stream !== undefined) {
            streaming = true;
            buf = '';
            stream(sock);
          }
        });
      }
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(socketPath, () => {
      server.off('error', fail);
      fs.chmodSync(socketPath, 0o600);
      server.unref();
      ok({
        drain: () => (pending === 0 ? Promise.resolve() : new Promise((r) => { waiters.push(r); })),
        // the socket file is the state's to remove (runtime.ts, checking it is still ours)
        close: () => { server.close(); },
      });
    });
  });
}

/** Why a request could not be made at all (no server there), as opposed to a refusal. */
export class ControlUnreachable extends Error {
  constructor(readonly socketPath: string, readonly code: string, message: string) {
    super(message);
    this.name = 'ControlUnreachable';
  }
}

/** Sends one request and resolves with its reply. Rejects with ControlUnreachable when no server answers. */
export function control_request(socketPath: string, req: ControlRequest, timeoutMs = 120_000): Promise<ControlReply> {
  return new Promise((ok, fail) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let done = false;
    const finish = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    const timer = setTimeout(() => finish(() => fail(new ControlUnreachable(socketPath, 'ETIMEDOUT',
      `the server at ${socketPath} did not answer '${req.op}' within ${Math.round(timeoutMs / 1000)} s`))), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      finish(() => {
        try {
          ok(JSON.parse(line) as ControlReply);
        } catch {
          fail(new Error(`the server at ${socketPath} answered something that is not JSON: ${line.slice(0, 200)}`));
        }
      });
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(() => fail(new ControlUnreachable(socketPath, e.code ?? 'EIO',
      `no cowlog server answers at ${socketPath} (${e.code ?? e.message})`))));
    sock.on('close', () => finish(() => fail(new ControlUnreachable(socketPath, 'ECONNRESET',
      `the server at ${socketPath} closed the connection before answering '${req.op}'`))));
  });
}

/** An open stream (trace, top): its first reply, and close() to detach. */
export interface ControlStream {
  reply: ControlReply;
  close(): void;
  /** stop and start reading (while the reader's own output is full): the server drops, never waits */
  pause(): void;
  resume(): void;
}

/**
 * Sends a request whose reply, when ok, turns the connection into a stream (trace, top): the
 * later lines go to `on_lines` as they arrive, several at a time (a string of whole lines, each
 * ending with a newline), and `on_close` is called once when the connection ends (with the
 * reason when it was not closed by close()). Rejects with ControlUnreachable when no server
 * answers within `timeoutMs`; a refusal ({"ok":false}) resolves, and the connection is closed.
 */
export function control_stream(socketPath: string, req: ControlRequest, on_lines: (lines: string) => void,
  on_close: (why: string | null) => void, timeoutMs = 10_000): Promise<ControlStream> {
  const dec = new StringDecoder('utf8');
  let buf = '';
  return control_stream_bytes(socketPath, req, (b) => {
    buf += dec.write(b);
    const last = buf.lastIndexOf('\n');
    if (last < 0) return;
    const lines = buf.slice(0, last + 1);
    buf = buf.slice(last + 1);
    on_lines(lines);
  }, (why) => {
    buf += dec.end();
    if (buf !== '' && why !== null) on_lines(buf + '\n');
    on_close(why);
  }, timeoutMs);
}

/**
 * As control_stream, but what follows the reply line goes to `on_bytes` as it arrives, in
 * pieces that may cut anything (the binary records of a trace: trace_wire.ts).
 */
export function control_stream_bytes(socketPath: string, req: ControlRequest, on_bytes: (b: Buffer) => void,
  on_close: (why: string | null) => void, timeoutMs = 10_000): Promise<ControlStream> {
  return new Promise((ok, fail) => {
    const sock = net.createConnection(socketPath);
    let head: Buffer | null = Buffer.alloc(0);
    let closing = false;
    let ended = false;
    const timer = setTimeout(() => {
      sock.destroy();
      fail(new ControlUnreachable(socketPath, 'ETIMEDOUT', `the server at ${socketPath} did not answer '${req.op}' within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: Buffer) => {
      if (head === null) {
        if (!closing) on_bytes(d);
        return;
      }
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      const line = head.toString('utf8', 0, nl);
      const rest = head.subarray(nl + 1);
      head = null;
      clearTimeout(timer);
      let reply: ControlReply;
      try {
        reply = JSON.parse(line) as ControlReply;
      } catch {
        sock.destroy();
        fail(new Error(`the server at ${socketPath} answered something that is not JSON: ${line.slice(0, 200)}`));
        return;
      }
      if (!reply.ok) closing = true;
      ok({ reply, close: () => { closing = true; sock.destroy(); }, pause: () => sock.pause(), resume: () => sock.resume() });
      if (!reply.ok) { sock.destroy(); return; }
      if (rest.length > 0) on_bytes(rest);
    });
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      if (head !== null) {
        fail(new ControlUnreachable(socketPath, why, why === 'ECONNRESET'
          ? `the server at ${socketPath} closed the connection before answering '${req.op}'`
          : `no cowlog server answers at ${socketPath} (${why})`));
        return;
      }
      on_close(closing ? null : why);
    };
    sock.on('error', (e: NodeJS.ErrnoException) => end(e.code ?? e.message));
    sock.on('close', () => end('ECONNRESET'));
  });
}
