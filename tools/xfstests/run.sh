#!/usr/bin/env bash
# Runs xfstests on cowlog through FUSE, as FSTYP=fuse with the subtype cowlog, from a checkout of
# xfstests the user provides (Debian does not package it):
#
#   tools/xfstests/run.sh XFSTESTS_DIR [check arguments...]     (default: -g quick)
#
# What it sets up, and takes down at the end: two sparse 8 GiB images in a scratch directory on
# loop devices, each made a cowlog filesystem (TEST_DEV and SCRATCH_DEV); the mount helper
# (`cowlog mount --install-helper`, so that `mount -t fuse.cowlog` works); the users xfstests runs
# commands as (fsgqa, fsgqa2, 123456-fsgqa, created only when missing and left in place); and
# XFSTESTS_DIR/local.config. It builds xfstests when it is not built (the Debian packages its
# README names are installed first).
#
# Two things in xfstests do not fit a FUSE filesystem with a subtype, and the run works round
# them rather than count them as cowlog's failures:
# - `_fs_type` compares the type `df` shows (fuse.cowlog) with FSTYP (fuse) and refuses the
#   mounted test device; the checkout's common/rc is given one more substitution mapping
#   fuse.cowlog to fuse, as it already maps fuse.glusterfs and fuse.ceph-fuse (the only change
#   made to it; `git diff` in the checkout shows it);
# - generic/740 runs mkfs of other filesystems on SCRATCH_DEV, which xfstests can not turn back
#   into cowlog for FSTYP=fuse (its _scratch_mkfs only empties the mounted filesystem): it runs
#   last, after the rest.
# Results are in XFSTESTS_DIR/results; the summary lines are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
[ $# -ge 1 ] || { echo "usage: tools/xfstests/run.sh XFSTESTS_DIR [check arguments...]" >&2; exit 2; }
X=$(cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- -g quick
[ -x "$X/check" ] || { echo "cowlog xfstests: $X has no ./check: not an xfstests checkout" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "cowlog xfstests: needs root (loop devices, mounts, users)" >&2; exit 2; }

bash tools/ensure-packages.sh acl attr automake bc e2fsprogs fio gawk gcc libacl1-dev libaio-dev \
  libcap-dev libgdbm-dev libgdbm-compat-dev libtool libtool-bin liburing-dev make psmisc python3 \
  quota sed uuid-dev uuid-runtime xfsprogs xfslibs-dev sqlite3 acct
[ -x "$X/src/godown" ] || make -C "$X" -j"$(nproc)" >/dev/null
node bin/cowlog.js mount --install-helper >/dev/null
for u in fsgqa fsgqa2 123456-fsgqa; do id "$u" >/dev/null 2>&1 || useradd -m "$u"; done
getent group fsgqa >/dev/null || groupadd fsgqa

# fuse.cowlog is fuse to xfstests (see above)
grep -q "fuse\\\\.cowlog" "$X/common/rc" ||
  sed -i "s|-e 's/fuse.ceph-fuse/ceph-fuse/'|-e 's/fuse.ceph-fuse/ceph-fuse/' -e 's/^fuse\\\\.cowlog\$/fuse/'|" "$X/common/rc"
grep -q "fuse\\\\.cowlog" "$X/common/rc" || { echo "cowlog xfstests: could not teach $X/common/rc the type fuse.cowlog" >&2; exit 1; }

work=$(mktemp -d /tmp/cowlog-xfstests-XXXXXX)
chmod 755 "$work"   # xfstests runs commands as fsgqa in TEST_DIR
devs=()
cleanup() {
  for m in "$work/test" "$work/scratch"; do mountpoint -q "$m" && umount "$m"; done
  for d in "${devs[@]}"; do losetup -d "$d" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/test" "$work/scratch"
for n in test scratch; do
  truncate -s 8G "$work/$n.img"
  d=$(losetup -f --show "$work/$n.img")
  devs+=("$d")
  node bin/cowlog.js mkfs "$d" >/dev/null
done
cat > "$X/local.config" <<EOF
# written by cowlog's tools/xfstests/run.sh
export TEST_DEV=${devs[0]}
export TEST_DIR=$work/test
export SCRATCH_DEV=${devs[1]}
export SCRATCH_MNT=$work/scratch
export FSTYP=fuse
export FUSE_SUBTYP=.cowlog
export MOUNT_OPTIONS="-oallow_other"
export TEST_FS_MOUNT_OPTS="-oallow_other"
EOF
echo "cowlog xfstests: $X, cowlog from $ROOT; ./check $* (generic/740 last)" >&2
(cd "$X" && ./check -e generic/740 "$@") | tee "$work/check.log" || true
node bin/cowlog.js mkfs --force "${devs[1]}" >/dev/null
(cd "$X" && ./check generic/740) | tee -a "$work/check.log" || true
grep -E '^(Ran|Not run|Failures|Failed|Passed)' "$work/check.log" | cut -c1-2000
