#!/bin/sh
# Image entrypoint (exec form in the Dockerfile, no tini): dispatches the way AWS's own images do.
#   serve [flags]  -> smkit serve   (SageMaker hosting runs `docker run <image> serve`)
#   train [flags]  -> smkit train   (SageMaker training runs `docker run <image> train`)
#   anything else  -> executed as given (for example `bash`, `node -v`, `smkit invoke ...`)
# `exec` replaces this shell, so Node is PID 1 and receives SIGTERM itself.
# The image also links this script as /usr/local/bin/serve and /usr/local/bin/train, the commands
# AWS's training toolkit (`train`) and its BYOC examples (`serve`, `train`) put on PATH: a job whose
# ContainerEntrypoint is ["train"], or an image built FROM this one with an ENTRYPOINT of its own
# that runs `train`, finds it; called by those names it runs that command with its arguments. SageMaker
# still adds `serve` or `train` (`docker run <image> serve` with ENTRYPOINT ["serve"] runs `serve serve`),
# and the toolkit's `train` ignores its arguments, so a first argument that repeats the command is dropped.
set -e
name="${0##*/}"
case "$name" in
  serve | train)
    if [ "${1-}" = "$name" ]; then shift; fi
    exec node /app/bin/smkit.js "$name" "$@"
    ;;
esac
case "${1:-serve}" in
  serve | train)
    cmd="${1:-serve}"
    [ "$#" -gt 0 ] && shift
    exec node /app/bin/smkit.js "$cmd" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
