#!/usr/bin/env bash
# Regenerates the standard comparison runs into heatmaps/: the smallsync and mixed workloads,
# 30,000 operations each, seed 1, on a 64 MiB device, for cowlog, ext4, btrfs and f2fs.
# f2fs runs in a QEMU guest (TCG): about 5 minutes per workload, 15 minutes in all. Needs root.
#   FS=ext4,btrfs OPS=3000 tools/heatmaps.sh     a shorter run, or fewer filesystems
set -euo pipefail
cd "$(dirname "$0")/.."
FS=${FS:-cowlog,ext4,btrfs,f2fs}
OPS=${OPS:-30000}
SIZE=${SIZE:-64M}
status=0
for profile in smallsync mixed; do
  out=heatmaps/$profile
  mkdir -p "$out"
  echo "== $profile: $OPS operations on $SIZE ($FS) -> $out"
  node bin/cowlog.js wear workload --profile "$profile" --ops "$OPS" --seed 1 --device-size "$SIZE" -o "$out/workload.jsonl"
  node bin/cowlog.js wear compare --fs "$FS" --size "$SIZE" --workload "$out/workload.jsonl" --out "$out" || status=1
done
[ "$status" -eq 0 ] || echo "heatmaps: at least one run failed (see above); the reports show the runs that worked" >&2
exit "$status"
