#!/bin/sh
# The image's entrypoint. Argument handling as registry:2's: `config.yml` paths and wharf's subcommands run
# `wharf`, anything else is executed as given.
#
# Started as root (the default, as registry:2 runs), it gives the storage volume to the `wharf` user when that
# user does not own it yet (a volume registry:2 or a root shell wrote), then drops to `wharf` with setpriv: no
# capabilities, no new privileges, no supplementary groups. WHARF_RUN_AS_ROOT=1 skips both (rootless podman,
# where the container's root is your own user). Started as any other user (`--user`), it changes nothing and runs
# as that user, who must be able to write the volume.
#
# Either way it ends by exec-ing tini, so PID 1 is tini, already unprivileged: it forwards SIGTERM, SIGHUP
# (`podman kill -s HUP`) and the other signals to wharf and reaps orphaned children, which node does not.
set -e

case "$1" in
  *.yaml|*.yml) set -- wharf serve "$@" ;;
  serve|garbage-collect|htpasswd|config|token-server|help|-*) set -- wharf "$@" ;;
esac

# -s: also reap as a subreaper when tini is not PID 1 (someone ran the image with --init).
set -- /usr/bin/tini -s -- "$@"

if [ "$(id -u)" = 0 ] && [ -z "${WHARF_RUN_AS_ROOT:-}" ]; then
  data=/var/lib/registry
  uid=$(id -u wharf)
  # Only when the top is not wharf's: walking a large registry at every start would delay it for minutes.
  if [ -d "$data" ] && [ "$(stat -c %u "$data")" != "$uid" ]; then
    echo "wharf-entrypoint: $data belongs to uid $(stat -c %u "$data"): giving it to wharf ($uid:$(id -g wharf))" >&2
    chown -R wharf:wharf "$data"
  fi
  exec setpriv --reuid=wharf --regid=wharf --clear-groups --inh-caps=-all --no-new-privs -- "$@"
fi
exec "$@"
