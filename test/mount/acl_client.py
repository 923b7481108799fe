#!/usr/bin/env python3
# POSIX ACLs and the shutdown ioctl as programs use them, for test/mount/acl.test.ts, without
# the acl package's tools: ACLs are the system.posix_acl_* xattrs in the kernel's binary form.
#   setacl PATH access|default SPEC     SPEC like u::rwx,u:65534:r--,g::r-x,m::r-x,o::---
#   getacl PATH access|default          prints the entries in the same notation (or ENODATA)
#   shutdown PATH [FLAGS]               FS_IOC_SHUTDOWN on PATH; FLAGS 0 DEFAULT, 1 LOGFLUSH, 2 NOLOGFLUSH (the default)
import errno, fcntl, os, struct, sys

TAGS = {'u': (0x01, 0x02), 'g': (0x04, 0x08), 'm': (0x10, 0x10), 'o': (0x20, 0x20)}
NAMES = {0x01: 'u', 0x02: 'u', 0x04: 'g', 0x08: 'g', 0x10: 'm', 0x20: 'o'}


def perm(s):
    return (4 if s[0] == 'r' else 0) | (2 if s[1] == 'w' else 0) | (1 if s[2] == 'x' else 0)


def perm_s(p):
    return ('r' if p & 4 else '-') + ('w' if p & 2 else '-') + ('x' if p & 1 else '-')


def encode(spec):
    out = struct.pack('<I', 2)
    for e in spec.split(','):
        kind, who, p = e.split(':')
        obj, named = TAGS[kind]
        tag = named if who else obj
        out += struct.pack('<HHI', tag, perm(p), int(who) if who else 0xffffffff)
    return out


def decode(b):
    out = []
    for o in range(4, len(b), 8):
        tag, p, i = struct.unpack_from('<HHI', b, o)
        who = str(i) if tag in (0x02, 0x08) else ''
        out.append('%s:%s:%s' % (NAMES[tag], who, perm_s(p)))
    return ','.join(out)


def name(kind):
    return 'system.posix_acl_' + kind


cmd, args = sys.argv[1], sys.argv[2:]
try:
    if cmd == 'setacl':
        os.setxattr(args[0], name(args[1]), encode(args[2]))
        print('ok')
    elif cmd == 'getacl':
        print(decode(os.getxattr(args[0], name(args[1]))))
    elif cmd == 'shutdown':
        fd = os.open(args[0], os.O_RDONLY)
        fcntl.ioctl(fd, 0x8004587d, struct.pack('I', int(args[1]) if len(args) > 1 else 2))
        print('ok')
    else:
        sys.exit('unknown command ' + cmd)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
