#!/bin/sh
# Image entrypoint (exec form in the Dockerfile): dispatches the way AWS's own images do.
#   serve [flags]  -> smkit serve   (SageMaker hosting runs `docker run <image> serve`)
#   train [flags]  -> smkit train   (SageMaker training runs `docker run <image> train`)
#   anything else  -> executed as given (for example `bash`, `node -v`, `smkit invoke ...`)
# `exec` replaces this shell. When it is the container's PID 1 (SageMaker runs no init of its own),
# the command runs under tini, which stays PID 1: a process that user code leaves behind (a handler's
# `sh -c 'tool &'`, the children of a worker that crashed) is handed to PID 1 when its parent exits,
# and Node, waiting only for its own children, would leave each one a zombie for good. tini reaps
# them and passes every signal on (SIGTERM, SIGINT: smkit drains and exits) and the exit code back.
# Under `docker run --init` (or any init) this script is not PID 1 and execs the command directly.
# The image also links this script as /usr/local/bin/serve and /usr/local/bin/train, the commands
# AWS's training toolkit (`train`) and its BYOC examples (`serve`, `train`) put on PATH: a job whose
# ContainerEntrypoint is ["train"], or an image built FROM this one with an ENTRYPOINT of its own
# that runs `train`, finds it; called by those names it runs that command with its arguments. SageMaker
# still adds `serve` or `train` (`docker run <image> serve` with ENTRYPOINT ["serve"] runs `serve serve`),
# and the toolkit's `train` ignores its arguments, so a first argument that repeats the command is dropped.
set -e
run() {
  if [ "$$" = 1 ] && command -v tini >/dev/null 2>&1; then exec tini -- "$@"; fi
  exec "$@"
}
name="${0##*/}"
case "$name" in
  serve | train)
    if [ "${1-}" = "$name" ]; then shift; fi
    run node /app/bin/smkit.js "$name" "$@"
    ;;
esac
case "${1:-serve}" in
  serve | train)
    cmd="${1:-serve}"
    [ "$#" -gt 0 ] && shift
    run node /app/bin/smkit.js "$cmd" "$@"
    ;;
  *)
    run "$@"
    ;;
esac
