#!/usr/bin/env bash
# Builds cowlog's patched fuse-native binding: applies patches/fuse-native+2.2.6.patch to
# node_modules/fuse-native and rebuilds the native module with node-gyp (from npm) against the
# system's libfuse 3 (the patch serves libfuse 3's low-level API: docs/FUSE.md).
#
# Idempotent: a patch already applied is left alone, and the binary is rebuilt only when the
# stamp beside it does not name this patch's checksum. Safe to run concurrently (one lock).
#
#   tools/fuse/setup.sh               install Debian packages if needed, patch, build, verify
#   tools/fuse/setup.sh --if-possible (npm postinstall) never installs Debian packages and never
#                                     fails: when a build tool is missing it says so and leaves
#                                     the rest to `make fuse`
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=strict
[ "${1:-}" = "--if-possible" ] && mode=soft

PKG=node_modules/fuse-native
PATCH=patches/fuse-native+2.2.6.patch
STAMP=$PKG/build/.cowlog-patch
# libfuse3-3 is loaded at run time, libfuse3-dev and pkg-config build against it. fusermount
# (unmounting; mounting too when not root) comes from Debian's fuse3, or from fuse (libfuse 2's),
# which provides the same command: the two packages replace each other, so whichever is there is
# kept rather than swapped under other users of the machine.
DEBS=(libfuse3-3 libfuse3-dev pkg-config patch make g++ python3)
command -v fusermount >/dev/null 2>&1 || command -v fusermount3 >/dev/null 2>&1 || DEBS+=(fuse3)

say() { echo "cowlog fuse: $*" >&2; }
give_up() {
  if [ "$mode" = soft ]; then say "$* (skipped here; \`make fuse\` finishes the set-up)"; exit 0; fi
  say "$*"; exit 1
}

[ -f "$PKG/package.json" ] || give_up "$PKG is not installed (run npm ci)"
version=$(node -p "require('./$PKG/package.json').version")
[ "$version" = "2.2.6" ] || give_up "$PKG is version $version; $PATCH is for 2.2.6"

# One set-up at a time: npm's postinstall and make may both get here.
exec 9>"node_modules/.cowlog-fuse.lock"
flock 9

if [ "$mode" = strict ]; then
  bash tools/ensure-packages.sh "${DEBS[@]}"
fi

# 1. The patch. Reverse-applies cleanly: already there. Applies cleanly: apply. Otherwise the
#    package was changed by something else and only a reinstall brings it back.
command -v patch >/dev/null || give_up "the 'patch' program is missing (Debian package patch)"
if patch -p1 -R -s -f --dry-run <"$PATCH" >/dev/null 2>&1; then
  :
elif patch -p1 -N -s -f --dry-run <"$PATCH" >/dev/null 2>&1; then
  patch -p1 -N -s -f --no-backup-if-mismatch <"$PATCH"
  say "applied $PATCH"
else
  give_up "$PKG does not match fuse-native 2.2.6 with or without $PATCH; reinstall it with npm ci"
fi

# 2. The binary. node-gyp-build loads build/Release/fuse.node before the package's prebuilds.
want=$(sha256sum "$PATCH" | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$have" != "$want" ] || [ ! -f "$PKG/build/Release/fuse.node" ]; then
  gyp=node_modules/.bin/node-gyp
  [ -x "$gyp" ] || give_up "node-gyp is not installed (it is a devDependency: run npm ci without --omit=dev)"
  pkg-config --exists fuse3 2>/dev/null || give_up "libfuse 3 headers are missing (Debian packages libfuse3-dev pkg-config)"
  command -v make >/dev/null && command -v g++ >/dev/null || give_up "a C toolchain is missing (Debian packages make g++)"
  # Node's headers ship with Debian's and NodeSource's node under /usr/include/node; pointing
  # node-gyp there keeps it from trying to download them.
  nodedir=()
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  for d in "$prefix" /usr /usr/local; do
    if [ -f "$d/include/node/node_api.h" ]; then nodedir=(--nodedir="$d"); break; fi
  done
  [ ${#nodedir[@]} -gt 0 ] || give_up "node's headers (include/node/node_api.h) were not found beside $(command -v node)"
  say "building the patched binding (node-gyp rebuild ${nodedir[*]})"
  log=$(mktemp)
  if ! (cd "$PKG" && "../.bin/node-gyp" rebuild "${nodedir[@]}") >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    give_up "node-gyp could not build $PKG"
  fi
  rm -f "$log"
  echo "$want" >"$STAMP"
fi

# 3. Load it as cowlog will and check that the patched native half answers.
level=$(sed -n 's/^+static const uint32_t cowlog_patch = \([0-9]*\);$/\1/p' "$PATCH")
got=$(node -e "process.stdout.write(String(require('./$PKG').COWLOG_PATCH))" 2>&1) || got="load failed: $got"
[ "$got" = "$level" ] || { rm -f "$STAMP"; give_up "$PKG loads patch level '$got', expected '$level'"; }
exit 0
