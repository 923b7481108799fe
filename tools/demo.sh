#!/usr/bin/env bash
# make demo: cowlog's main job on a fresh machine, step by step.
#   1. a 64 MiB loop device formatted with cowlog, checked and described;
#   2. mounted and used as an ordinary filesystem ("system A": files, links, modes);
#   3. an A/B upgrade: snapshot A, change it into B, see the diff, roll back atomically — the
#      tree is A again, byte for byte — and look at the snapshots and the space they hold;
#      then A/B boots: a clone B upgraded and put on trial, boots of B that never mark it good
#      and the fallback to A by itself, then a trial of B kept by mark-good; and the crash table
#      of those steps (a power cut at every write: before or after, never between);
#   4. its wear: the demo session's own heatmap, then one workload replayed on cowlog and ext4,
#      each on a fresh 64 MiB loop device and traced, compared in a report (WAF, hottest block,
#      heatmaps); at the end, the command that adds btrfs and f2fs (f2fs runs in a QEMU guest).
#
# Settings (environment):
#   DEMO_OUT=DIR     where the report goes (default: demo-out/ in the checkout)
#   DEMO_FS=LIST     filesystems to compare (default cowlog,ext4; btrfs and f2fs may be added)
#   DEMO_OPS=N       operations of the compared workload (default 10000)
# Needs root (loop devices, mounts, tracefs). Installs missing Debian packages on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(realpath -m "${DEMO_OUT:-$ROOT/demo-out}")
FS=${DEMO_FS:-cowlog,ext4}
OPS=${DEMO_OPS:-10000}

cowlog() { node "$ROOT/bin/cowlog.js" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root (loop devices, mounts and the block tracer); run it as root" >&2
  exit 1
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /var/tmp/cowlog-demo.XXXXXX)
MNT=$WORK/mnt
LOOP=""
finish() {
  mountpoint -q "$MNT" 2>/dev/null && cowlog umount "$MNT" >/dev/null 2>&1 || true
  mountpoint -q "$MNT" 2>/dev/null && fusermount -uz "$MNT" >/dev/null 2>&1 || true
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
  rm -rf "$WORK"
}
trap finish EXIT

step "1. A 64 MiB loop device, formatted with cowlog"
truncate -s 64M "$WORK/disk.img"
LOOP=$(losetup -f --show "$WORK/disk.img")
echo "loop device: $LOOP"
run cowlog mkfs "$LOOP"
run cowlog fsck "$LOOP"
cowlog info "$LOOP" | head -5

step "2. Mounted through FUSE and used as an ordinary filesystem: system A"
mkdir -p "$MNT"
run cowlog mount --wear "$WORK/session.wear" "$LOOP" "$MNT"
mkdir -p "$MNT/etc" "$MNT/usr/lib" "$MNT/var/log"
echo "NAME=demo-os VERSION=A" > "$MNT/etc/os-release"
cp -a "$ROOT/src" "$MNT/usr/lib/cowlog-src"
cp -a "$ROOT/node_modules/sorted-btree" "$MNT/usr/lib/sorted-btree"
ln -s ../etc/os-release "$MNT/usr/os-release"
ln "$MNT/etc/os-release" "$MNT/var/os-release.hardlink"
chmod 600 "$MNT/var/log"
seq 1 20000 > "$MNT/var/log/boot.log"
echo "files: $(find "$MNT" -type f | wc -l), directories: $(find "$MNT" -type d | wc -l), symlinks: $(find "$MNT" -type l | wc -l)"
run df -h "$MNT"
cp -a "$MNT" "$WORK/system-A"   # a copy outside, to check the rollback against

step "3. A/B: snapshot A, upgrade to B, roll back"
run cowlog snapshot create "$MNT" A
echo "NAME=demo-os VERSION=B" > "$MNT/etc/os-release"
rm -rf "$MNT/usr/lib/sorted-btree"
mkdir -p "$MNT/opt/new-feature" && seq 1 5000 > "$MNT/opt/new-feature/data"
mv "$MNT/var/log/boot.log" "$MNT/var/log/boot.log.1"
dd if=/dev/urandom of="$MNT/usr/lib/big.bin" bs=1M count=4 status=none
echo "system B: $(cat "$MNT/etc/os-release")"
echo "what changed from A to B (first lines):"
cowlog snapshot diff "$MNT" A @live | head -8
run cowlog snapshot list "$MNT"
run cowlog snapshot rollback "$MNT" A
echo "after the rollback: $(cat "$MNT/etc/os-release")"
if diff -r --no-dereference "$WORK/system-A" "$MNT" >/dev/null; then echo "the tree is system A again, byte for byte (diff -r finds nothing)"; else echo "the tree differs from system A!" >&2; exit 1; fi
run cowlog snapshot list "$MNT"
run cowlog umount "$MNT"
run cowlog fsck "$LOOP"
cowlog info --wear "$WORK/session.wear" "$LOOP" | grep -E "^(space|snapshots|cleaner|segment wear|block wear)"

step "3b. A/B boots: B on trial falls back to A by itself; a second trial is kept by mark-good"
LOG=/var/log/cowlog/$(basename "$LOOP").log
os_is() { grep -q "VERSION=$1" "$MNT/etc/os-release" || { echo "expected system $1, found: $(cat "$MNT/etc/os-release")" >&2; exit 1; }; }
# a "boot": a plain mount (what an fstab line or an initramfs does) serves the default tree, or
# the tree on trial while it has mounts left, and counts the mount; B "fails" by never running
# mark-good before it goes down
boot() { run cowlog mount "$LOOP" "$MNT"; echo "booted: $(cat "$MNT/etc/os-release")"; }
run cowlog snapshot clone "$LOOP" A B
run cowlog mount --snapshot B "$LOOP" "$MNT"
echo "NAME=demo-os VERSION=B" > "$MNT/etc/os-release"
mkdir -p "$MNT/opt/new-feature" && seq 1 5000 > "$MNT/opt/new-feature/data"
echo "clone B upgraded: $(cat "$MNT/etc/os-release")"
run cowlog umount "$MNT"
run cowlog snapshot set-default --trial 2 "$LOOP" B
for n in 1 2; do
  boot; os_is B
  echo "boot $n of B: its health check fails, mark-good is never run"
  run cowlog umount "$MNT"
done
boot; os_is A
echo "the trial ran out: this mount serves A again, by itself. Its log says:"
grep 'warn: serving' "$LOG" | tail -1
cowlog info "$LOOP" | grep '^boot'
run cowlog umount "$MNT"
run cowlog snapshot set-default --trial 2 "$LOOP" B
boot; os_is B
echo "B's health check passes: the booted system keeps itself"
run cowlog snapshot mark-good "$MNT"
run cowlog snapshot list "$MNT"
run cowlog umount "$MNT"
boot; os_is B
echo "B is the default now: every boot serves it"
run cowlog umount "$MNT"
run cowlog fsck "$LOOP"
echo "each of these steps is all-or-nothing under a power cut at any write or flush (docs/CRASH-TABLE.md has every operation):"
echo "\$ cowlog crash-table --seeds 2 --op set-default --op 'set-default --trial' --op 'trial mount' --op mark-good"
cowlog crash-table --seeds 2 --op set-default --op 'set-default --trial' --op 'trial mount' --op mark-good | tail -1

step "4a. Wear of this session: every block write the demo made, as a heatmap"
run cowlog wear heatmap "$WORK/session.wear" --out "$OUT/demo-session.png"

step "4b. The same workload on ${FS//,/, } ($OPS small-file operations, fsync after every write, 64 MiB each)"
case ",$FS," in *,f2fs,*) echo "(f2fs runs in a QEMU guest without KVM: a few minutes)";; esac
run cowlog wear workload --profile smallsync --ops "$OPS" --seed 1 --device-size 64M -o "$OUT/workload.jsonl"
status=0
run cowlog wear compare --fs "$FS" --size 64M --workload "$OUT/workload.jsonl" --out "$OUT" || status=$?

step "Done"
if [ -f "$OUT/report.md" ]; then
  sed -n '/^| fs |/,/^$/p' "$OUT/report.md" | head -8
fi
echo
echo "report:   $OUT/report.html (and report.md), heatmaps beside it"
echo "session:  $OUT/demo-session.png"
echo "standard runs (30,000 operations, smallsync and mixed, all four filesystems): heatmaps/"
echo
echo "to add btrfs and f2fs to this report (f2fs runs in a QEMU guest: a few minutes, with progress):"
echo "  node bin/cowlog.js wear compare --fs btrfs,f2fs --size 64M --workload $OUT/workload.jsonl --out $OUT"
exit "$status"
