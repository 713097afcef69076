#!/bin/sh
# Image entrypoint (exec form in the Dockerfile, no tini): dispatches the way AWS's own images do.
#   serve [flags]  -> smkit serve   (SageMaker hosting runs `docker run <image> serve`)
#   train [flags]  -> smkit train   (SageMaker training runs `docker run <image> train`)
#   anything else  -> executed as given (for example `bash`, `node -v`, `smkit invoke ...`)
# `exec` replaces this shell, so Node is PID 1 and receives SIGTERM itself.
set -e
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
