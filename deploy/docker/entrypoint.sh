#!/bin/bash
# The image's entry point. With no arguments or options only: dsmild with them
# (default `--config /etc/dsmil/node.yaml`); with a program name: that program
# (`docker run IMAGE dsmilctl status`).
#
# DSMIL_STORES_SECRETS (a directory, e.g. a compose or Kubernetes secret mounted read-only
# at /run/secrets/dsmil-stores): its files are copied, without overwriting, into
# DSMIL_SECRETS_DIR (default /var/lib/dsmil/secrets, the node's `stores.secrets_dir`),
# directories 0700 and files 0600, before dsmild starts: the node keeps writing the keys
# it makes itself (per-tenant claim keys) in its own volume.
set -euo pipefail
if [ -n "${DSMIL_STORES_SECRETS:-}" ] && [ -d "$DSMIL_STORES_SECRETS" ]; then
  dst=${DSMIL_SECRETS_DIR:-/var/lib/dsmil/secrets}
  umask 077
  mkdir -p "$dst"
  cp -R --no-clobber --no-preserve=mode,ownership "$DSMIL_STORES_SECRETS"/. "$dst"/
  find "$dst" -type d -exec chmod 0700 {} + -o -type f -exec chmod 0600 {} +
fi
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
  exec /usr/local/bin/dsmild "$@"
fi
exec "$@"
