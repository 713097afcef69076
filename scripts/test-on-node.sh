#!/usr/bin/env bash
# Runs the whole test suite (dist/, built by `npm test` or `npm run build`) once more on another
# Node version: the images run Node 22 while development machines and CI's `npm test` may run
# Node 20, and some paths differ by version (SO_REUSEPORT connection balancing from 22.12,
# stream error timing). The Node binary comes from the npm registry (the node-<os>-<arch>
# package that `npm install node` uses) into a cache directory, so nothing else is downloaded.
# Usage: scripts/test-on-node.sh <version, e.g. 22.23.5> [test file filter ...]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/test-on-node.sh <node version> [filter ...]}"
shift
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  Darwin-x86_64) platform=darwin-x64 ;;
  *) echo "test-on-node: no Node package for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac
cache="${SMKIT_NODE_CACHE:-${TMPDIR:-/tmp}/smkit-node-$version-$platform}"
node="$cache/node_modules/node-$platform/bin/node"
if [ ! -x "$node" ]; then
  npm install --prefix "$cache" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts "node-$platform@$version" >/dev/null
fi
echo "test-on-node: $("$node" -v) ($node)"
PATH="$(dirname "$node"):$PATH" exec "$node" scripts/run-tests.mjs "$@"
