"""A pre-imported AWS CLI for the tests that run `aws` (see aws-zygote.ts).

Each `aws` command costs a second or more of CPU, most of it Python importing awscli and botocore
and botocore parsing its JSON data files. The zygote imports them once and parses the data files the
tests' commands read (_preload: handed to a command only while unchanged on disk and found first on
its search paths); each command then runs, in a process forked from it, the AWS CLI's own script
(the `aws` on the machine, executed as it is) with the caller's arguments, environment, working
folder, umask and standard input, output and error.

  python3 aws-zygote.py serve <socket> <aws script>     the zygote (prints "ready" once it listens)
  python3 -I -S aws-zygote.py client <socket> <aws script> <argv0> [args...]     one `aws` command

The client hands its arguments and standard streams to the zygote and exits as the command did. It
runs the plain AWS CLI instead when the zygote is not there, refuses (a terminal on a standard
stream, or a setting read at Python's start or awscli's import that differs from the zygote's), or
cannot take the command; once the zygote took it, a lost answer is an error (never a second run).
"""
import json
import os
import signal
import socket
import sys


def _start_env(env):
    """Settings read when Python starts or awscli is imported: a command runs in the zygote only with the same.

    TZ: the time module reads it at import (the local time zone of the timestamps the CLI prints).
    HOME: botocore and awscli expand ~ at import (~/.aws/models on the data path, cache folders).
    """
    return {k: v for k, v in env.items() if k.startswith(('PYTHON', 'LC_')) or k in ('LANG', 'TZ', 'HOME', 'AWS_DATA_PATH')}


# The botocore data files the tests' and documents' commands read (service models, endpoints, the
# CLI's own): parsed once by the zygote (_preload) instead of by every command.
_PRELOAD_SERVICES = ('sagemaker', 'sagemaker-runtime', 'cloudwatch', 'application-autoscaling', 'logs', 's3', 'sts')
_PRELOAD_SERVICE_FILES = ('service-2', 'waiters-2', 'paginators-1', 'endpoint-rule-set-1')
_PRELOAD_FILES = ('cli', 'endpoints', 'partitions', '_retry', 'sdk-default-configuration')
# (the loader's search paths, the data name) -> (the data, its path, _file_signature of that path).
_preloaded = {}


def _file_signature(path):
    """What tells the file a data path names has not changed since it was parsed (None: no such file)."""
    signature = []
    for suffix in ('.json', '.json.gz'):
        try:
            st = os.stat(path + suffix)
            signature.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            signature.append(None)
    return tuple(signature)


def _preload():
    """Parses the data files of _PRELOAD_* as a command's loader would find them, and has each
    command's botocore Loader take them instead of parsing them again.

    A command gets a preloaded file only for a loader with the same search paths and the stock JSON
    file loader, and only while the file is still the first one the search paths lead to and unchanged;
    else its loader reads it as usual. Each file is handed out once per command: the first loader that
    asks for it owns it as if it had parsed it (botocore merges extras into a loaded model, in place),
    and any later loader parses its own. A file or service this botocore lacks is skipped.
    """
    import botocore.loaders
    from botocore.exceptions import DataNotFoundError
    loader_class = botocore.loaders.Loader
    json_loader_class = botocore.loaders.JSONFileLoader
    # The loader a command's session makes (from AWS_DATA_PATH, as awscli's import set it).
    loader = botocore.loaders.create_loader(os.environ.get('AWS_DATA_PATH'))
    # The patch below leans on two of Loader's private parts: without them, commands parse as usual.
    if type(loader.file_loader) is not json_loader_class or not hasattr(loader, '_cache') or not callable(getattr(loader, '_potential_locations', None)):
        return
    search_paths = tuple(loader.search_paths)
    names = list(_PRELOAD_FILES)
    for service in _PRELOAD_SERVICES:
        try:
            version = loader.determine_latest_version(service, 'service-2')
        except Exception:
            continue
        names += [f'{service}/{version}/{name}' for name in _PRELOAD_SERVICE_FILES]
    for name in names:
        try:
            data, path = loader.load_data_with_path(name)
        except DataNotFoundError:
            continue
        _preloaded[(search_paths, name)] = (data, path, _file_signature(path))
    original = loader_class.load_data_with_path

    def load_data_with_path(self, name):
        key = ('load_data_with_path', name)  # the key of Loader's own per-instance cache
        if key in self._cache:
            return self._cache[key]
        entry = _preloaded.get((tuple(self.search_paths), name))
        if entry is None or type(self.file_loader) is not json_loader_class:
            return original(self, name)
        data, path, signature = entry
        # The first of its search paths that has the file must still be the one parsed, unchanged.
        first = next((p for p in self._potential_locations(name) if self.file_loader.exists(p)), None)
        if first != path or _file_signature(path) != signature:
            return original(self, name)
        del _preloaded[(tuple(self.search_paths), name)]
        # What the file loader logs (aws --debug) when it parses it: the .json, else the .json.gz it reads.
        botocore.loaders.logger.debug('Loading JSON file: %s', path + ('.json' if signature[0] is not None else '.json.gz'))
        self._cache[key] = (data, path)
        return data, path

    load_data_with_path.__doc__ = original.__doc__
    loader_class.load_data_with_path = load_data_with_path


def _run_command(request, fds, aws):
    """In the forked process: becomes the caller's `aws` command and runs the AWS CLI's script.

    It never returns. A script that ends (returns or raises SystemExit) ends this process as it
    ends a Python running the script: its status (a non-integer code printed, status 1), the
    non-daemon threads waited for, atexit handlers, the final flush of standard output and error
    and its status 120 when that fails. Then os._exit skips the interpreter's teardown, which frees every
    object the zygote imported and so writes to (copies) each page holding one: about 0.27 s of
    a command's 0.64 s of CPU here. Any other exception still leaves by the interpreter's own path
    (its traceback, status 1), since nothing up the stack catches it.
    """
    import runpy
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request['cwd'])
    os.umask(request['umask'])
    env = dict(request['env'])
    # awscli's import added its data folder to AWS_DATA_PATH (from the same value the caller has).
    if 'AWS_DATA_PATH' in os.environ:
        env['AWS_DATA_PATH'] = os.environ['AWS_DATA_PATH']
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [request['argv0'], *request['args']]
    try:
        runpy.run_path(aws, run_name='__main__')
        code = 0  # the script returned without sys.exit: a plain run ends with status 0 too
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        sys.stderr.write(f'{code}\n')
        code = 1
    # What Python's own exit (Py_FinalizeEx) does before its teardown, in its order.
    import atexit
    import threading
    getattr(threading, '_shutdown', lambda: None)()
    atexit._run_exitfuncs()
    # Its flush_std_files: a closed stream is left alone; a failed flush makes the status 120, and
    # standard output's is reported as an exception ignored (standard error's silently).
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, 'closed', False):
            continue
        try:
            stream.flush()
        except Exception as exc:
            code = 120
            if stream is sys.stdout and sys.stderr is not None:
                import traceback
                try:
                    sys.stderr.write(f'Exception ignored in: {stream!r}\n' + ''.join(traceback.format_exception_only(type(exc), exc)))
                except Exception:
                    pass
    os._exit(code & 0xFF)


def _handle(conn, aws, start_env):
    """In a process forked per connection: takes one command, runs it, answers its exit status."""
    import select
    try:
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        request = json.loads(message)
    except Exception:
        os._exit(0)  # no answer: the client runs the plain CLI
    if len(fds) != 3 or _start_env(request['env']) != start_env:
        conn.send(b'{"fallback": true}')
        os._exit(0)
    conn.send(b'{"accepted": true}')
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_command(request, fds, aws)
    for fd in fds:
        os.close(fd)
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    while pidfd is not None:
        ready, _, _ = select.select([conn, pidfd], [], [])
        if pidfd in ready:
            break
        try:
            gone = not conn.recv(16)
        except OSError:
            gone = True
        if gone:
            # The caller is gone (its group was stopped): so is its command.
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    try:
        conn.send(json.dumps({'exit': os.waitstatus_to_exitcode(status)}).encode())
    except OSError:
        pass
    os._exit(0)


def serve(path, aws):
    """Imports the AWS CLI, then forks a handler per connection until standard input ends."""
    import select
    start_env = _start_env(os.environ)
    # As when the script runs: its folder first on sys.path, not this one.
    sys.path[0] = os.path.dirname(os.path.realpath(aws))
    import awscli.clidriver  # noqa: F401  (what the script imports)
    import awscli.handlers  # noqa: F401  (the plugins its main() loads)
    try:
        _preload()
    except Exception:
        pass  # the commands parse their data files themselves
    try:
        # The Linux distribution the CLI puts in its user agent (distro caches it; lsb_release is a process).
        import distro
        distro.id()
        distro.major_version()
    except Exception:
        pass
    # Left out of the forked commands' garbage collections: a collection of the oldest generation would
    # otherwise walk every object imported here, writing to (and so copying) each page holding one.
    import gc
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    # Handlers are reaped here (not left to SIG_IGN), so the commands' CPU counts as this process's
    # children's, as a plain `aws` would for its caller. SIGCHLD wakes the select through this pipe.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sys.stdout.write('ready\n')
    sys.stdout.flush()
    while True:
        ready, _, _ = select.select([listener, 0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] != 0:
                    pass
            except ChildProcessError:
                pass
        if 0 in ready and not os.read(0, 4096):
            break  # the test is over (or gone)
        if listener in ready:
            conn, _ = listener.accept()
            if os.fork() == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in (listener.detach(), wake_r, wake_w):
                    os.close(fd)
                _handle(conn, aws, start_env)
            conn.close()
    # Its folder too (made for it): a test process killed before its stop() leaves nothing behind.
    for remove in (os.unlink, os.rmdir):
        try:
            remove(path if remove is os.unlink else os.path.dirname(path))
        except OSError:
            pass
    # Started as the leader of its own process group: stop the commands still running with it.
    if os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)


def client(path, aws, argv0, args):
    """One `aws` command: run by the zygote when it takes it, else by the plain CLI."""
    def plain():
        os.execv(aws, [argv0, *args])

    try:
        if any(os.isatty(fd) for fd in (0, 1, 2)):
            plain()  # the CLI behaves differently on a terminal (pager, prompts)
        umask = os.umask(0)
        os.umask(umask)
        request = {'argv0': argv0, 'args': args, 'env': dict(os.environ), 'cwd': os.getcwd(), 'umask': umask}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.connect(path)
        socket.send_fds(sock, [json.dumps(request).encode()], [0, 1, 2])
        first = sock.recv(4096)
        taken = bool(first) and not json.loads(first).get('fallback')
    except Exception:
        taken = False  # nothing ran (an older Python without send_fds, too): the plain CLI runs it
    if not taken:
        plain()
    try:
        answer = sock.recv(4096)
    except OSError:
        answer = b''
    if not answer:
        sys.stderr.write('aws-zygote: the command was taken but no exit status came back\n')
        os._exit(255)
    code = json.loads(answer)['exit']
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
