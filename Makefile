# cowlog — every target installs what it needs (npm ci, Debian packages) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.cowlog-installed
# the patched fuse-native binding; inside node_modules so that `npm ci` invalidates it too
FUSE_STAMP := node_modules/.cowlog-fuse-built
TAP := node_modules/.bin/tap
TSC := node_modules/.bin/tsc
TEST_FILES = $(shell find dist/test -name '*.test.js' 2>/dev/null | sort)

.PHONY: help deps build test test-fast demo bench-engine bench-cleaner bench-snapshots soak coverage clean

help:
	@echo "make demo         the main job: a 64 MiB loop device with cowlog, mounted, A/B snapshot and rollback, trial boots that fall back, heatmaps against ext4"
	@echo "make test         build and run the test suite (prints 'N passed, N failed')"
	@echo "make bench-engine engine throughput without FUSE, on a memory and a file device"
	@echo "make bench-cleaner usable capacity and write amplification on a 64 MiB device"
	@echo "make bench-snapshots snapshot create/delete/rollback time and bytes, 10,000 files"
	@echo "make soak         the long randomized runs (minutes)"
	@echo "make bench-fuse   cowlog through FUSE against the stack's ceiling (nullfs) and ext4; what a tracer costs: FUSE_ARGS='--only cowlog,traced --rounds 12 --size 4G --mib 1024'"
	@echo "make bench-compress usable capacity and speed with lz4 on a 64 MiB device, btrfs compress=lzo beside it"
	@echo "make bench-meta   metadata: fs_mark creates, ls -lR, find, stat, rename, unlink of 50,000 files on cowlog, fuse2fs and ext4 (META_ARGS='--files 10000' for a short one)"
	@echo "make bench-waf    write amplification of every workload on cowlog, ext4 and btrfs (WAF_ARGS='--ops 2000' for a short one)"
	@echo "make bench-fsync  cowlog bench fsync on cowlog and ext4 loop devices, side by side, with kill -9 losses"
	@echo "make bench-writeback writes of 512 B to 1 MiB, random 4 KiB, small files: cowlog with and without -o writeback_cache, and ext4 (WB_ARGS='--rounds 5')"
	@echo "make bench-scale-tree a million files made in the engine, then fsck -n, mount, find and ls -lR through the mount, server memory (TREE_ARGS='--files 100000')"
	@echo "make xfstests XFSTESTS=DIR  xfstests (a checkout of it: Debian has none) on cowlog through FUSE, XFSTESTS_ARGS='-g quick' by default (tools/xfstests/run.sh)"
	@echo "make bench-scale  an 8 GiB and a 1 TiB image: a million files, ls -lR, find, 10 GiB written (6 GiB: what fits on 8 GiB; again on fresh images), mount, fsck, memory (SCALE_ARGS='--files 100000')"

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP)

# fuse-native with patches/fuse-native+2.2.6.patch applied and rebuilt (docs/FUSE.md)
.PHONY: fuse
$(FUSE_STAMP): $(NPM_STAMP) patches/fuse-native+2.2.6.patch tools/fuse/setup.sh
	bash tools/fuse/setup.sh
	@touch $@

fuse: $(FUSE_STAMP)

build: deps
	$(TSC) -p tsconfig.json

test: build $(FUSE_STAMP)
	@bash tools/ensure-packages.sh attr e2fsprogs  # getfattr/setfattr (user.cowlog.compress), chattr/lsattr in the mount tests
	@set -o pipefail; $(TAP) --reporter=tap $(TEST_FILES) 2>&1 | tee dist/test-results.tap | grep -E '^(not ok|ok|    not ok|#   Failed|    # Subtest: )' | sed -e 's/ # time=.*//' ; \
	 node tools/tap-summary.mjs < dist/test-results.tap

coverage: build
	$(TAP) --coverage-report=text-summary --allow-incomplete-coverage $(TEST_FILES)

demo: build $(FUSE_STAMP)
	bash tools/demo.sh

bench-engine: build
	node dist/tools/bench/engine.js

bench-cleaner: build
	node dist/tools/bench/cleaner.js

bench-snapshots: build
	node dist/tools/bench/snapshots.js

# capacity with and without lz4 (text trees, logs, random data) beside btrfs compress=lzo, and
# sequential speed of compressible and incompressible data (btrfs needs root: loop devices)
.PHONY: bench-compress
bench-compress: build
	node dist/tools/bench/compress.js $(COMPRESS_ARGS)

soak: build
	COWLOG_SOAK=1 $(TAP) --reporter=terse --timeout=3600 $(TEST_FILES)

# the mount tests in the soak (fsx 3 x 100,000 operations, 12 kill -9 rounds, all of
# node_modules through cp -a) need the patched binding
soak: $(FUSE_STAMP)

# cowlog mounted through FUSE on loop devices against nullfs (the ceiling) and ext4 (needs root)
.PHONY: bench-fuse
bench-fuse: build $(FUSE_STAMP)
	node dist/tools/bench/fuse.js $(FUSE_ARGS)

# metadata through the mount: cowlog, fuse2fs and ext4 on loop devices, in one run (needs root)
.PHONY: bench-meta
bench-meta: build $(FUSE_STAMP)
	bash tools/ensure-packages.sh fsmark fuse2fs e2fsprogs
	node dist/tools/bench/meta.js $(META_ARGS)

# xfstests on cowlog through FUSE, from a checkout of xfstests (Debian does not package it; needs root)
.PHONY: xfstests
xfstests: build $(FUSE_STAMP)
	@test -n "$(XFSTESTS)" || { echo "make xfstests XFSTESTS=DIR [XFSTESTS_ARGS='-g quick']: DIR is a checkout of xfstests"; exit 2; }
	bash tools/xfstests/run.sh $(XFSTESTS) $(XFSTESTS_ARGS)

# the write-amplification sweep: every workload on cowlog, ext4 and btrfs, 64 MiB loop devices
# traced by tracefs (needs root); WAF_ARGS='--ops 2000 --profiles wal' and the like for a short run
.PHONY: bench-waf
bench-waf: build $(FUSE_STAMP)
	bash tools/ensure-packages.sh e2fsprogs btrfs-progs
	node dist/tools/bench/waf.js $(WAF_ARGS)
# cowlog on an 8 GiB and a 1 TiB sparse image through FUSE, in one run: files created, listed,
# found and read, a sequential write, mount and unmount, fsck, the server's memory (docs/SCALE.md);
# SCALE_ARGS='--files 100000 --write 2G' for a shorter one
.PHONY: bench-scale
bench-scale: build $(FUSE_STAMP)
	node dist/tools/bench/scale.js $(SCALE_ARGS)

# a million files made in the engine, then fsck -n and a walk through the mount (docs/SCALE.md)
.PHONY: bench-scale-tree
bench-scale-tree: build $(FUSE_STAMP)
	node dist/tools/bench/scale_tree.js $(TREE_ARGS)

# cowlog bench fsync on cowlog and ext4, each on a loop device, in one run (needs root)
.PHONY: bench-fsync
bench-fsync: build $(FUSE_STAMP)
	node dist/tools/bench/fsync.js

# writes of every size on cowlog with and without the kernel's writeback cache, and ext4 (needs root)
.PHONY: bench-writeback
bench-writeback: build $(FUSE_STAMP)
	bash tools/ensure-packages.sh fio e2fsprogs
	node dist/tools/bench/writeback.js $(WB_ARGS)

clean:
	rm -rf dist

# the comparison runs into heatmaps/ (cowlog, ext4, btrfs, f2fs; 30,000 operations): smallsync,
# mixed and the sweep's other workloads (mixed-sync30, inplace, wal, maildir); about 35 minutes
.PHONY: heatmaps
heatmaps: build $(FUSE_STAMP)
	bash tools/heatmaps.sh
