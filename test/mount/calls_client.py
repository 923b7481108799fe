#!/usr/bin/env python3
# The system calls of test/mount/calls.test.ts, made as a program would make them: renameat2,
# fallocate, lseek SEEK_DATA/SEEK_HOLE, copy_file_range, open with O_TMPFILE and linkat. Each prints "ok ..." or the errno's
# name. `work` runs them in a loop, each followed by fsync, and journals what every file holds
# after it (outside the mount) until it is stopped; `verify` checks the files against the
# journal after a kill -9 of the server: each holds what the last fsync'd operation left, or
# what the operation in flight would have.
import ctypes, errno, hashlib, json, os, sys, time

libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
FLAGS = {'noreplace': 1, 'exchange': 2, 'both': 3, 'whiteout': 4, 'whiteout+noreplace': 5, 'whiteout+exchange': 6, 'none': 0}
MODES = {'alloc': 0, 'keep': 1, 'punch': 3, 'zero': 0x10, 'zerokeep': 0x11, 'collapse': 8}


def fail(e):
    print(errno.errorcode.get(e, str(e)))
    sys.exit(0)


def rename2(old, new, flags):
    if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), FLAGS[flags]) != 0:
        fail(ctypes.get_errno())
    print('ok')


def falloc(path, mode, off, length):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if libc.fallocate(fd, MODES[mode], int(off), int(length)) != 0:
        fail(ctypes.get_errno())
    print('ok', os.fstat(fd).st_size, os.fstat(fd).st_blocks)


def seek(path, whence, off):
    fd = os.open(path, os.O_RDONLY)
    try:
        print('ok', os.lseek(fd, int(off), os.SEEK_DATA if whence == 'data' else os.SEEK_HOLE))
    except OSError as e:
        fail(e.errno)


def copy(src, dst, off_in=0, off_out=0, length=None):
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
    left = os.fstat(fi).st_size - int(off_in) if length is None else int(length)
    done = 0
    try:
        while left > 0:
            n = os.copy_file_range(fi, fo, left, int(off_in) + done, int(off_out) + done)
            if n == 0:
                break
            done += n
            left -= n
    except OSError as e:
        fail(e.errno)
    print('ok', done)


def tmpfile(d, size, name, *flags):
    """open(d, O_TMPFILE), `size` bytes written, fsync'd, then named `name` (unless '-') by
    linkat of /proc/self/fd/N, as man 2 open shows; 'excl' adds O_EXCL, 'hold' keeps it open
    (printing first) until killed. Prints ok, the link count before and after, the md5."""
    try:
        fd = os.open(d, os.O_TMPFILE | os.O_RDWR | (os.O_EXCL if 'excl' in flags else 0), 0o640)
    except OSError as e:
        fail(e.errno)
    data = hashlib.sha256(name.encode()).digest() * (int(size) // 32) + b'x' * (int(size) % 32)
    os.write(fd, data)
    os.fsync(fd)
    before = os.fstat(fd).st_nlink
    if name != '-':
        if libc.linkat(AT_FDCWD, f'/proc/self/fd/{fd}'.encode(), AT_FDCWD, os.path.join(d, name).encode(), AT_SYMLINK_FOLLOW) != 0:
            fail(ctypes.get_errno())
        os.fsync(fd)
    print('ok', before, os.fstat(fd).st_nlink, hashlib.md5(data).hexdigest(), flush=True)
    if 'hold' in flags:
        while True:
            time.sleep(60)


def digest(path):
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except FileNotFoundError:
        return None


NAMES = ['a', 'b', 'c']


def state(d):
    return {n: digest(os.path.join(d, n)) for n in NAMES}


def work(d, journal, seed):
    import random
    rnd = random.Random(int(seed))
    for n in NAMES:
        p = os.path.join(d, n)
        if not os.path.exists(p):
            with open(p, 'wb') as f:
                f.write(os.urandom(rnd.randint(1, 600) * 1024))
                os.fsync(f.fileno())
    dfd = os.open(d, os.O_RDONLY)
    os.fsync(dfd)
    ops = 0
    with open(journal, 'a') as j:
        j.write(json.dumps({'done': state(d)}) + '\n')
        j.flush()
        while True:
            try:
                before = state(d)
            except OSError as e:
                print('stopped after', ops, 'operations:', e.strerror)
                return
            x, y = rnd.sample(NAMES, 2)
            px, py = os.path.join(d, x), os.path.join(d, y)
            kind = rnd.choice(['exchange', 'punch', 'zero', 'alloc', 'copy', 'write'])
            # the state the operation would leave, computed on a copy outside the mount first is
            # not possible for all of them: journal "before" and, once fsync'd, "done"
            j.write(json.dumps({'op': kind, 'before': before}) + '\n')
            j.flush()
            try:
                if kind == 'exchange':
                    if libc.renameat2(AT_FDCWD, px.encode(), AT_FDCWD, py.encode(), 2) != 0:
                        raise OSError(ctypes.get_errno(), 'renameat2')
                    os.fsync(dfd)
                else:
                    fd = os.open(px, os.O_RDWR)
                    size = os.fstat(fd).st_size
                    off = rnd.randint(0, max(0, size)) & ~4095
                    if kind in ('punch', 'zero', 'alloc'):
                        mode = {'punch': 3, 'zero': 0x10, 'alloc': 0}[kind]
                        if libc.fallocate(fd, mode, off, rnd.randint(1, 256) * 1024) != 0:
                            raise OSError(ctypes.get_errno(), 'fallocate')
                    elif kind == 'copy':
                        fi = os.open(py, os.O_RDONLY)
                        left = os.fstat(fi).st_size
                        pos = 0
                        while left > 0:
                            n = os.copy_file_range(fi, fd, left, pos, pos)
                            if n == 0:
                                break
                            pos += n
                            left -= n
                        os.close(fi)
                    else:
                        os.pwrite(fd, os.urandom(rnd.randint(1, 64) * 1024), off)
                    os.fsync(fd)
                    os.close(fd)
                after = state(d)
            except OSError as e:
                print('stopped after', ops, 'operations:', e.strerror)
                return
            j.write(json.dumps({'done': after}) + '\n')
            j.flush()
            ops += 1


def verify(d, journal):
    lines = [json.loads(l) for l in open(journal) if l.strip()]
    last_done = None
    in_flight = None
    for l in lines:
        if 'done' in l:
            last_done, in_flight = l['done'], None
        else:
            in_flight = l
    got = state(d)
    if got == last_done:
        print('ok: the last fsync\'d state')
        return
    # an operation in flight may have become durable (its fsync or a checkpoint reached the disk)
    # before the server died: then files it did not touch are as they were
    if in_flight is not None:
        changed = [n for n in NAMES if got[n] != last_done[n]]
        if in_flight['op'] == 'exchange' and sorted(got.values(), key=str) == sorted(last_done.values(), key=str):
            print('ok: the exchange in flight')
            return
        if in_flight['op'] != 'exchange' and len(changed) == 1:
            print('ok: the operation in flight, on', changed[0])
            return
    print('DIFFERENT: got', got, 'last fsync\'d', last_done, 'in flight', in_flight)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'rename2': rename2, 'falloc': falloc, 'seek': seek, 'copy': copy, 'tmpfile': tmpfile, 'work': work, 'verify': verify}[cmd](*args)
