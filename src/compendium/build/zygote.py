"""The zygote: a process that imports a kernel's heavy libraries once, then forks kernels.

Run as a script by :mod:`compendium.build.kernels` (never imported: it must not load
``compendium``, so that a chapter imports the package's current code and the kernel's probe
sees exactly the ``compendium`` modules the chapter used)::

    python zygote.py <fd of a SOCK_SEQPACKET Unix socket>

It imports :data:`KERNEL_START` and :data:`LIBRARIES`, tells its parent ``{"ready": ...}`` over the socket, and then
serves one request at a time: ``{"argv", "env", "cwd"}`` with the kernel's stdout and stderr
attached (``SCM_RIGHTS``). For each it forks a child, which becomes ``python -m
ipykernel_launcher ...`` exactly as a fresh interpreter would (see :func:`become_kernel`), and
answers ``{"pid": ...}`` with a pidfd of the child attached, or ``{"error": ...}``. When a child
exits the zygote reaps it and sends ``{"exited": pid, "status": code}``. When its parent goes
away (end of file on the socket) it kills the children it still has and exits.

Only the standard library is imported before those, and the zygote starts no thread
and creates no ZeroMQ context, so that at each fork it is single-threaded; it checks this
before every fork and refuses (the parent then launches the kernel normally) if it is not.
"""

import importlib
import io
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile
import threading
import warnings

#: What a fresh kernel imports while it starts, before its first cell: ipykernel, IPython,
#: ZeroMQ, the debugger (which says on stderr that frozen modules may hide breakpoints). Their
#: output at import never reaches a notebook, so the zygote discards it.
KERNEL_START = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
)
#: The heavy third-party libraries the chapters import. Each must import silently (output or
#: a warning would appear in a fresh kernel's cell that imports it), start no thread that
#: survives a fork, leave ``os.environ`` alone, and not depend on running inside a kernel or
#: on the working directory. So not matplotlib (it reads ``./matplotlibrc`` and picks its
#: backend from IPython) nor seaborn (imports matplotlib), nor plotly.io (picks its default
#: renderer by looking for a running IPython shell), nor scikit-learn (sets ``KMP_*``
#: variables in ``os.environ`` at import).
LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pandas.io.formats.style",
    "scipy.optimize",
    "scipy.stats",
    "plotly.graph_objects",
    "jsonschema",
    "yaml",
    "nbformat",
)
#: The largest request (a kernel's argv and environment) accepted, in bytes.
MAX_MESSAGE = 1 << 20


def send(channel: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    """Send one JSON message (and file descriptors) as one datagram."""
    socket.send_fds(channel, [json.dumps(message).encode()], list(fds))


def task_count() -> int:
    """Return how many threads this process has, as the kernel sees them."""
    return len(os.listdir("/proc/self/task"))


def _import(modules) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # not installed here: a kernel that needs it fails as it always would


def _environ_changes(before: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    after = dict(os.environ)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    return changed, sorted(before.keys() - after.keys())


#: What importing :data:`KERNEL_START` set and removed in ``os.environ`` (the debugger sets
#: ``PYDEVD_USE_FRAME_EVAL``): a forked kernel's environment is replaced by the one its launch
#: asks for, and these are then applied again, as a fresh kernel would have them.
STARTUP_ENVIRON: tuple[dict[str, str], list[str]] = ({}, [])


def preload() -> str | None:
    """Import :data:`KERNEL_START` and :data:`LIBRARIES`; return None, or why the zygote is unusable.

    Output or a warning while importing :data:`LIBRARIES` would, in a fresh kernel, appear in
    the chapter's first cell that imports them: the zygote must not swallow it, so it refuses.
    Warning filters that an import installs are kept, as they are in a fresh kernel.
    """
    global STARTUP_ENVIRON
    before = dict(os.environ)
    with open(os.devnull, "w") as devnull:
        saved = os.dup(2)
        os.dup2(devnull.fileno(), 2)
        try:
            _import(KERNEL_START)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    STARTUP_ENVIRON = _environ_changes(before)
    environ = dict(os.environ)
    caught = []
    shown = warnings.showwarning
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(1), os.dup(2)
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        # Under the start-up filters, as in a kernel for library code: what would be shown.
        warnings.showwarning = lambda message, *_, **__: caught.append(message)
        try:
            _import(LIBRARIES)
        finally:
            warnings.showwarning = shown
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        captured.seek(0)
        output = captured.read()
    if output:
        return f"importing the preloaded modules wrote output: {output[:200]!r}"
    if caught:
        return f"importing the preloaded modules warned: {caught[0]}"
    if dict(os.environ) != environ:
        return "importing the preloaded modules changed os.environ"
    # OpenBLAS (numpy's and scipy's) starts its thread pool at import and registers a
    # pthread_atfork handler that stops the pool before every fork; the pool starts again
    # lazily, with the same size, at the next BLAS call. One throw-away fork stops it here,
    # so that the zygote is single-threaded from now on (it never calls BLAS itself).
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return None


def single_threaded() -> bool:
    """Return True when this process has exactly one thread (Python's and the system's view)."""
    return threading.active_count() == 1 and task_count() == 1


def serve(channel: socket.socket) -> dict | None:
    """Fork kernels on request until the parent goes away; return a request only in a child.

    Returns
    -------
    dict or None
        In a forked child: the request it must become (argv, env, cwd), its stdout and stderr
        already in place. In the zygote: None, once the parent closed the socket and every
        child was killed and reaped.
    """
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ)
    children: dict[int, int] = {}  # pid -> pidfd
    while True:
        for key, _ in selector.select():
            if key.fileobj is channel:
                try:
                    data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 2)
                except ConnectionError:
                    data, fds = b"", []
                if not data:
                    for fd in fds:
                        os.close(fd)
                    _kill_all(children)
                    selector.close()
                    return None
                request = json.loads(data)
                if len(fds) != 2:
                    for fd in fds:
                        os.close(fd)
                    send(channel, {"error": "a request needs the kernel's stdout and stderr"})
                    continue
                if not single_threaded():
                    for fd in fds:
                        os.close(fd)
                    send(channel, {"error": f"the zygote has {task_count()} threads"})
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    # The child keeps nothing of the zygote's bookkeeping.
                    selector.close()
                    channel.close()
                    for pidfd in children.values():
                        os.close(pidfd)
                    _install_streams(*fds)
                    return request
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pid] = pidfd
                selector.register(pidfd, selectors.EVENT_READ, pid)
                send(channel, {"pid": pid}, (pidfd,))
            else:
                pid = key.data
                selector.unregister(key.fd)
                os.close(children.pop(pid))
                _, status = os.waitpid(pid, 0)
                try:
                    send(channel, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass  # the parent has gone: the next select sees the end of file


def _kill_all(children: dict[int, int]) -> None:
    # The parent went away without shutting these kernels down (killed, or interrupted):
    # a normal kernel would notice its parent's death within a second and exit; these must
    # not outlive the build either.
    for pid, pidfd in children.items():
        try:
            os.killpg(pid, signal.SIGKILL)  # with whatever the kernel started in its group
        except OSError:
            os.kill(pid, signal.SIGKILL)  # not yet its own group leader
        os.waitpid(pid, 0)
        os.close(pidfd)
    children.clear()


def _install_streams(stdout: int, stderr: int) -> None:
    """Give the child the standard streams ``Popen(stdin=PIPE, stdout=None, stderr=None)`` would.

    The parent's current stdout and stderr (sent with the request), and as stdin the read
    end of a pipe whose write end is closed, as jupyter-client's launcher leaves it.
    """
    read, write = os.pipe()
    os.close(write)
    for source, target in ((read, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    # Rebuild the Python objects as interpreter start-up (create_stdio) does for these
    # descriptors; the zygote's own were made for /dev/null. Its stderr is write-through
    # exactly when Python runs unbuffered (-u, PYTHONUNBUFFERED), the same for its kernels.
    unbuffered = sys.__stderr__.write_through
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, f"__{name}__")
        raw = io.FileIO(fd, mode, closefd=False)
        raw.name = f"<{name}>"
        if unbuffered and mode == "w":
            buffer = raw
        else:
            buffer = (io.BufferedReader if mode == "r" else io.BufferedWriter)(raw)
        stream = io.TextIOWrapper(
            buffer,
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=not unbuffered and (os.isatty(fd) or fd == 2),
            write_through=unbuffered,
        )
        stream.mode = mode
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def become_kernel(request: dict) -> None:
    """Turn this forked child into ``python -m ipykernel_launcher ...`` as asked.

    Returns (or raises SystemExit) only when the kernel has ended; the child then exits as
    any interpreter does, running the exit handlers its kernel registered.

    What a fork shares with its zygote, and why it cannot change a chapter's outputs:

    - the str hash seed (``PYTHONHASHSEED`` random, drawn once by the zygote): a fresh kernel
      draws its own, so a chapter whose output depended on it would already differ from run
      to run, which ``make verify`` would report;
    - ``random``'s state: Python reseeds it from the OS in every forked child
      (``os.register_at_fork``), as a fresh import would;
    - numpy's legacy global generator (``numpy.random.seed`` without a seed) is reseeded
      below from the OS, as numpy does at import;
    - the preloaded modules themselves, imported under the same environment (the parent
      only forks from a zygote started with the kernel's environment, ``JPY_*``,
      ``PYTEST_*`` and ``COMPENDIUM_*`` aside, which these libraries never read).
    """
    os.setsid()  # as Popen(start_new_session=True): interrupts go to the kernel's own group
    os.environ.clear()
    os.environ.update(request["env"])
    changed, removed = STARTUP_ENVIRON
    os.environ.update(changed)
    for name in removed:
        os.environ.pop(name, None)
    os.chdir(request["cwd"])
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    argv = request["argv"]
    # As `python -m ipykernel_launcher` in cwd: the launcher drops sys.path[0] (the cwd)
    # itself, and IPython puts '' back, exactly as in a fresh interpreter.
    sys.path.insert(0, os.getcwd())
    sys.orig_argv[:] = argv
    sys.argv[:] = [argv[0], *argv[3:]]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def main() -> None:
    """Preload, report ready, serve; in a forked child, run the kernel instead."""
    # `python zygote.py` put this file's folder first on sys.path: compendium's source tree,
    # whose modules must never shadow, or be found by, the preloaded libraries.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    channel = socket.socket(fileno=int(sys.argv[1]))
    # ipykernel reads JPY_PARENT_PID when it is imported (a trait's default): give it the
    # value every kernel forked from here gets, this process's pid.
    os.environ["JPY_PARENT_PID"] = str(os.getpid())
    problem = preload()
    if problem is None and not single_threaded():
        problem = f"the zygote has {task_count()} threads after preloading"
    send(channel, {"ready": problem is None, "problem": problem, "pid": os.getpid()})
    if problem is not None:
        return
    request = serve(channel)
    if request is not None:
        become_kernel(request)
    else:
        # Every kernel is reaped and nothing is buffered (stdout and stderr are /dev/null):
        # skip the interpreter's clean-up of the preloaded libraries (a third of a second,
        # which the build waits for).
        os._exit(0)


if __name__ == "__main__":
    main()
