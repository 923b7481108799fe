#!/usr/bin/env bash
# Regenerates the comparison runs into heatmaps/<case>/, 30,000 operations each, seed 1, on a
# 64 MiB device, for cowlog, ext4, btrfs and f2fs: smallsync and mixed, and the other workloads
# of the write-amplification sweep (make bench-waf): mixed-sync30, inplace, wal, maildir.
# f2fs runs in a QEMU guest (TCG): 3-5 minutes per workload, about 35 minutes in all. Needs root.
#   FS=cowlog,ext4,btrfs OPS=3000 tools/heatmaps.sh   a shorter run, or fewer filesystems
#   CASES=wal,maildir tools/heatmaps.sh               some cases only
set -euo pipefail
cd "$(dirname "$0")/.."
FS=${FS:-cowlog,ext4,btrfs,f2fs}
OPS=${OPS:-30000}
SIZE=${SIZE:-64M}
# name|profile|knobs (the knobs are those of tools/bench/waf.ts's cases)
ALL=(
  "smallsync|smallsync|"
  "mixed|mixed|"
  "mixed-sync30|mixed|--fsync-pct 30 --text-pct 50"
  "inplace|inplace|"
  "wal|wal|"
  "maildir|maildir|"
)
CASES=${CASES:-smallsync,mixed,mixed-sync30,inplace,wal,maildir}
status=0
for entry in "${ALL[@]}"; do
  IFS='|' read -r name profile knobs <<<"$entry"
  [[ ",$CASES," == *",$name,"* ]] || continue
  out=heatmaps/$name
  mkdir -p "$out"
  echo "== $name: $OPS operations on $SIZE ($FS) -> $out"
  # shellcheck disable=SC2086 # the knobs are separate words
  node bin/cowlog.js wear workload --profile "$profile" $knobs --ops "$OPS" --seed 1 --device-size "$SIZE" -o "$out/workload.jsonl"
  node bin/cowlog.js wear compare --fs "$FS" --size "$SIZE" --workload "$out/workload.jsonl" --out "$out" || status=1
done
[ "$status" -eq 0 ] || echo "heatmaps: at least one run failed (see above); the reports show the runs that worked" >&2
exit "$status"
