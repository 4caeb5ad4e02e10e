#!/usr/bin/env bash
# Makes a Debian 12 (bookworm) base image locally, for hosts that cannot pull from a
# registry: `debootstrap --variant=minbase bookworm` from the Debian mirror this machine's
# apt sources name, then `docker import`. Nothing is made when the tag already exists.
#   scripts/make-base-image.sh [TAG]          default TAG: dsmil-base:bookworm
# Environment: DOCKER (client command, default docker; DOCKER_HOST is honoured),
# DEBIAN_MIRROR (override the mirror read from /etc/apt/sources.list{,.d/*}).
# Needs root (debootstrap) and about 1.5 minutes; the image is about 120 MB.
set -euo pipefail
tag=${1:-dsmil-base:bookworm}
docker=${DOCKER:-docker}

if $docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag: present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "make-base-image: debootstrap is missing (scripts/deps.sh test)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "make-base-image: debootstrap needs root" >&2; exit 1; }

# The mirror of the machine's Debian sources: the first `deb` entry for bookworm that is
# not the security archive, from deb822 (*.sources) or one-line (*.list) files.
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    mirror=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { types = ""; uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          if ($i ~ /^Types:/) types = $i
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) suites = $i
          if ($i ~ /^Enabled:[ \t]*no/) types = ""
        }
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/ && uris !~ /security/) { print uris; exit }
      }' "$f")
    [ -n "$mirror" ] && break
  done
  if [ -z "$mirror" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      mirror=$(awk '$1 == "deb" { u = $2; s = $3; if (u ~ /^\[/) { u = $3; s = $4 }
                    if (s == "bookworm" && u !~ /security/) { print u; exit } }' "$f")
      [ -n "$mirror" ] && break
    done
  fi
fi
[ -n "$mirror" ] || { echo "make-base-image: no Debian bookworm mirror in the apt sources; set DEBIAN_MIRROR" >&2; exit 1; }

work=$(mktemp -d /tmp/dsmil-base-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "make-base-image: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# Smaller and reproducible-ish: no package lists, caches or logs in the image.
rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/cache/apt/*.bin "$work/root"/var/cache/apt/archives/*.deb \
  "$work/root"/var/log/* "$work/root"/tmp/*
tar -C "$work/root" --numeric-owner -c . | $docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "make-base-image: $tag ($($docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
