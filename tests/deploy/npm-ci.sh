#!/usr/bin/env bash
# Installs the deploy validators' npm packages (pinned by package-lock.json) into DEST, a folder
# in the build tree, so the source tree stays clean. Reinstalls only when the lockfile changed.
# usage: npm-ci.sh <tests/deploy source dir> <dest dir>
set -euo pipefail
src=$1 dest=$2

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: '$tool' not found; the Kubernetes/Dockerfile checks (tests/deploy) need Node.js 20" \
         "and npm (Debian 12: apt-get install nodejs npm, or NodeSource's node 20)" >&2
    exit 1
  fi
done
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 18)); then
  echo "error: node $(node --version) is too old for tests/deploy; use node 20" >&2
  exit 1
fi

mkdir -p "$dest"
if [[ -d $dest/node_modules ]] && cmp -s "$src/package-lock.json" "$dest/installed-lock.json"; then
  echo "npm-ci: $dest is up to date with package-lock.json"
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
rm -f "$dest/installed-lock.json"
# --prefer-offline: use npm's cache when it has the pinned versions, the registry otherwise.
(cd "$dest" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
cp "$src/package-lock.json" "$dest/installed-lock.json"
echo "npm-ci: installed $(ls "$dest/node_modules" | wc -l) packages into $dest"
