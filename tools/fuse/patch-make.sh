#!/usr/bin/env bash
# Regenerates patches/fuse-native+2.2.6.patch from the edited node_modules/fuse-native, in the
# format patch-package uses (paths node_modules/fuse-native/..., applied with patch -p1).
#
#   1. edit node_modules/fuse-native/{fuse-native.c,index.js,binding.gyp}
#   2. bump `cowlog_patch` in fuse-native.c and FUSE_PATCH_LEVEL in src/fuse/binding.ts together
#   3. tools/fuse/patch-make.sh && make fuse && npx tap dist/test/fuse/*.test.js
#
# The pristine package comes from the npm registry (npm pack fuse-native@2.2.6), never from a copy
# kept in this repository.
set -euo pipefail
cd "$(dirname "$0")/../.."

PKG=node_modules/fuse-native
PATCH=patches/fuse-native+2.2.6.patch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent fuse-native@2.2.6 >/dev/null && tar xzf fuse-native-2.2.6.tgz)
mkdir -p "$work/a/node_modules" "$work/b/node_modules"
mv "$work/package" "$work/a/node_modules/fuse-native"
# the build output and prebuilt binaries are not part of the patch
tar -C "$PKG" --exclude=./build --exclude=./prebuilds --exclude=./node_modules -cf - . |
  (mkdir -p "$work/b/node_modules/fuse-native" && tar -C "$work/b/node_modules/fuse-native" -xf -)
rm -rf "$work/a/node_modules/fuse-native/prebuilds"

set +e
(cd "$work" && git diff --no-index --no-color --src-prefix= --dst-prefix= \
  a/node_modules/fuse-native b/node_modules/fuse-native) >"$work/out.patch"
rc=$?
set -e
[ $rc -le 1 ] || { echo "cowlog fuse: git diff failed" >&2; exit 1; }
[ -s "$work/out.patch" ] || { echo "cowlog fuse: $PKG is pristine: nothing to write" >&2; exit 1; }
cp "$work/out.patch" "$PATCH"
echo "cowlog fuse: wrote $PATCH ($(grep -c '^diff --git' "$PATCH") files)" >&2
