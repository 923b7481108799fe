#!/usr/bin/env python3
# The calls of test/mount/handles.test.ts, as programs make them: an open descriptor of a
# directory that is removed or renamed over, file handles (name_to_handle_at,
# open_by_handle_at), and telldir/seekdir positions. Each command prints one JSON line.
import ctypes, errno, json, os, sys

libc = ctypes.CDLL(None, use_errno=True)


class FileHandle(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int), ('f_handle', ctypes.c_ubyte * 128)]


class Dirent(ctypes.Structure):
    _fields_ = [('d_ino', ctypes.c_uint64), ('d_off', ctypes.c_int64), ('d_reclen', ctypes.c_ushort),
                ('d_type', ctypes.c_ubyte), ('d_name', ctypes.c_char * 256)]


libc.name_to_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(FileHandle), ctypes.POINTER(ctypes.c_int), ctypes.c_int]
libc.open_by_handle_at.argtypes = [ctypes.c_int, ctypes.POINTER(FileHandle), ctypes.c_int]
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
AT_FDCWD = -100


def out(x):
    print(json.dumps(x))


def err_name(e):
    return errno.errorcode.get(e, str(e))


def dir_fd_after(path, how):
    """fstat and listing of an open directory after it is removed (rmdir) or renamed over (mv)."""
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    if how == 'rmdir':
        os.rmdir(path)
    else:
        os.mkdir(path + '.new')
        os.rename(path + '.new', path)
    r = {}
    try:
        st = os.fstat(fd)
        r['fstat'] = {'nlink': st.st_nlink, 'dir': (st.st_mode & 0o170000) == 0o040000}
    except OSError as e:
        r['fstat'] = err_name(e.errno)
    try:
        r['list'] = os.listdir(fd)
    except OSError as e:
        r['list'] = err_name(e.errno)
    try:
        os.fchmod(fd, 0o700)
        r['fchmod'] = 'ok'
    except OSError as e:
        r['fchmod'] = err_name(e.errno)
    out(r)


def handle(path):
    fh = FileHandle()
    fh.handle_bytes = 128
    mid = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), ctypes.byref(fh), ctypes.byref(mid), 0) != 0:
        out({'error': err_name(ctypes.get_errno())})
        return
    out({'type': fh.handle_type, 'bytes': bytes(fh.f_handle[:fh.handle_bytes]).hex()})


def open_handle(mnt, htype, hexbytes):
    b = bytes.fromhex(hexbytes)
    fh = FileHandle()
    fh.handle_bytes = len(b)
    fh.handle_type = int(htype)
    for i, x in enumerate(b):
        fh.f_handle[i] = x
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), os.O_RDONLY)
    if fd < 0:
        out({'error': err_name(ctypes.get_errno())})
        return
    out({'data': os.read(fd, 100).decode('latin1')})


def listing(d):
    """Names with the telldir cookie after each."""
    names, cookies = [], []
    while True:
        p = libc.readdir(d)
        if not p:
            break
        n = p.contents.d_name.decode('latin1')
        if n in ('.', '..'):
            continue
        names.append(n)
        cookies.append(libc.telldir(d))
    return names, cookies


def rest_from(path, cookie):
    d = libc.opendir(path.encode())
    libc.seekdir(d, cookie)
    names, _ = listing(d)
    libc.closedir(d)
    return names


def seekdir_check(path, count):
    """A listing with its cookies; seekdir to two of them in another handle, before and after
    the directory changes: nothing that was there all along is skipped."""
    count = int(count)
    for i in range(count):
        open(os.path.join(path, 'f%04d' % i), 'w').close()
    d = libc.opendir(path.encode())
    names, cookies = listing(d)
    libc.closedir(d)
    a, b = count // 4, count // 2
    r = {'listed': len(names), 'distinct': len(set(names))}
    after_a = rest_from(path, cookies[a])
    r['same_handle_order'] = after_a == names[a + 1:]
    # the directory changes: names added, some of those listed before the cookie removed
    for i in range(count, count + count // 5):
        open(os.path.join(path, 'g%04d' % i), 'w').close()
    for n in names[: a // 2]:
        os.unlink(os.path.join(path, n))
    after_b = rest_from(path, cookies[b])
    missing = [n for n in names[b + 1:] if n not in after_b]
    r['missing_after_change'] = missing
    r['repeated_after_change'] = len(after_b) - len(set(after_b))
    out(r)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'dir-fd': dir_fd_after, 'handle': handle, 'open-handle': open_handle, 'seekdir': seekdir_check}[cmd](*args)
