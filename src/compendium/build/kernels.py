"""Warm kernels: chapter kernels forked from a zygote that has already imported the heavy libraries.

A fresh ipykernel spends about a second of CPU starting Python and importing ipykernel,
IPython, numpy, pandas and pyarrow before it runs a chapter's first cell. Here one process per
distinct kernel environment, the *zygote* (:mod:`compendium.build.zygote`), imports those once;
each kernel is then a fork of it that becomes ``python -m ipykernel_launcher -f <connection
file>`` with the environment and working directory its launch asks for.

It plugs into jupyter-client through its documented extension points:
:class:`ForkingKernelManager` (for nbclient's ``kernel_manager_class``) gives each kernel a
:class:`ForkingProvisioner`, a ``LocalProvisioner`` whose ``launch_kernel`` forks when it can
and otherwise launches the kernel exactly as jupyter-client does. It launches normally when:

- ``COMPENDIUM_FORK_KERNELS=0`` is set (:data:`ENV_VAR`);
- the system has no ``fork``, pidfds or descriptor passing (not Linux);
- the kernel is not this interpreter's ``-m ipykernel_launcher``, or the launch asks for
  anything but an environment and a working directory;
- the zygote failed to start, imported with output or warnings, or is not single-threaded.

The zygote is started lazily, once per process and environment (``JPY_*``, ``PYTEST_*`` and
``COMPENDIUM_*`` variables aside: the preloaded libraries never read them), and exits with
this process: at exit, or, if this process is killed, as soon as its end of the socket closes.
It then kills any kernel it still has, as a normal kernel's parent-poller would.

Every kernel, forked or not, talks to the build over Unix sockets in a private folder
(:class:`LocalSocketKernelManager`), never TCP ports: see that class for why.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

#: Set to ``0`` to launch every kernel normally (no zygote).
ENV_VAR = "COMPENDIUM_FORK_KERNELS"
ZYGOTE = Path(__file__).with_name("zygote.py")
#: Variables a kernel's environment may differ in and still fork from the same zygote.
PER_KERNEL_PREFIXES = ("JPY_", "PYTEST_", "COMPENDIUM_")
#: Zygotes kept per process (one per kernel environment); beyond this, kernels launch normally.
MAX_ZYGOTES = 4
STARTUP_SECONDS = 120.0
#: How long to wait for the zygote's word on a kernel that has exited.
STATUS_SECONDS = 10.0
#: pyarrow's bundled jemalloc starts a purging thread at import (its default pool here is
#: mimalloc: jemalloc serves no allocation unless a chapter asks for it). The zygote turns it
#: off so that it is single-threaded when it forks; it changes when freed memory goes back to
#: the system, never a value.
ARROW_JEMALLOC = "JE_ARROW_MALLOC_CONF"


def enabled() -> bool:
    """Return True when kernels may be forked: not turned off, and the system supports it."""
    return (
        os.environ.get(ENV_VAR, "1") != "0"
        and sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and hasattr(os, "pidfd_open")
        and hasattr(signal, "pidfd_send_signal")
        and hasattr(socket, "send_fds")
    )


def _readable(fd: int, timeout: float | None) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


class ZygoteGone(OSError):
    """The zygote closed its socket or stopped answering."""


class Zygote:
    """A running zygote, and the socket to it (thread-safe).

    Parameters
    ----------
    env
        The environment it starts with: that of the kernels it will fork.
    """

    def __init__(self, env: dict[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        zygote_env = dict(env)
        extra = "background_thread:false"
        current = zygote_env.get(ARROW_JEMALLOC)
        zygote_env[ARROW_JEMALLOC] = f"{current},{extra}" if current else extra
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(ZYGOTE), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=zygote_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the build, which ends the zygote
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.channel = ours
        self.exits: dict[int, int] = {}
        self.lock = threading.Lock()
        self.pid = self.process.pid
        # Unknown until the zygote says it is ready (it imports meanwhile: see prestart).
        self.ready: bool | None = None

    def wait_ready(self) -> None:
        """Return once the zygote has preloaded; raise ZygoteGone if it failed or refused."""
        with self.lock:
            if self.ready is None:
                try:
                    answer = self._receive(STARTUP_SECONDS)[0]
                    self.ready = bool(answer.get("ready"))
                except (OSError, ValueError):
                    self.ready = False
                    answer = {"problem": "it did not start"}
                if not self.ready:
                    self._stop()
                    raise ZygoteGone(f"the zygote is unusable: {answer.get('problem')}")
            elif not self.ready:
                raise ZygoteGone("the zygote is unusable")

    def _receive(self, timeout: float | None) -> tuple[dict, list[int]]:
        self.channel.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(self.channel, 1 << 16, 1)
        except TimeoutError:
            raise ZygoteGone("the zygote did not answer in time") from None
        if not data:
            raise ZygoteGone("the zygote has exited")
        return json.loads(data), fds

    def _next_answer(self) -> tuple[dict, list[int]]:
        # Exit notices may arrive before the answer to a launch: keep them.
        while True:
            message, fds = self._receive(STARTUP_SECONDS)
            if "exited" in message:
                self.exits[message["exited"]] = message["status"]
                continue
            return message, fds

    def fork(self, argv: list[str], env: dict[str, str], cwd: str) -> ForkedProcess | None:
        """Return a kernel forked as asked, or None when the zygote refused.

        It refuses when it is not single-threaded at that moment. The kernel's stdout and
        stderr are this process's current ones, sent along, as a launched kernel inherits them.
        """
        request = {"argv": argv, "env": env, "cwd": cwd}
        self.wait_ready()
        with self.lock:
            socket.send_fds(self.channel, [json.dumps(request).encode()], [1, 2])
            answer, fds = self._next_answer()
        if "pid" not in answer or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return None
        return ForkedProcess(self, answer["pid"], fds[0])

    def exit_status(self, pid: int) -> int:
        """Return the exit code of a child known to have exited (as ``Popen.returncode``).

        1 when the zygote cannot tell (it has gone: the kernel died without it).
        """
        with self.lock:
            try:
                while pid not in self.exits:
                    message, fds = self._receive(STATUS_SECONDS)
                    for fd in fds:
                        os.close(fd)
                    if "exited" in message:
                        self.exits[message["exited"]] = message["status"]
            except (ZygoteGone, OSError, ValueError):
                return self.exits.pop(pid, 1)
            return self.exits.pop(pid)

    def close(self) -> None:
        """End the zygote: it kills the kernels it still has, then exits."""
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        if self.ready is None and self.process.poll() is None:
            self.process.kill()  # still importing: it has no kernel yet
        self.channel.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ForkedProcess:
    """A forked kernel, seen through the part of ``subprocess.Popen`` that jupyter-client uses.

    It is the zygote's child, not ours: its exit is watched through a pidfd (which also makes
    every signal reach this very process, never a recycled pid) and its exit code comes from
    the zygote, which reaps it.
    """

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int, pidfd: int):
        self.zygote = zygote
        self.pid = pid
        self.pidfd = pidfd
        self.returncode: int | None = None

    def _reap(self) -> None:
        self.returncode = self.zygote.exit_status(self.pid)
        os.close(self.pidfd)

    def poll(self) -> int | None:
        """Return the exit code, or None while the kernel runs."""
        if self.returncode is None and _readable(self.pidfd, 0):
            self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Return the exit code once the kernel has exited (``TimeoutExpired`` after ``timeout``)."""
        if self.returncode is None:
            if not _readable(self.pidfd, timeout):
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self._reap()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel (nothing, as with Popen, once it has exited)."""
        if self.poll() is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signum)
            except ProcessLookupError:
                pass  # exited since: not yet reaped

    def kill(self) -> None:
        """Send SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.send_signal(signal.SIGTERM)


_zygotes: dict[tuple, Zygote | None] = {}
_zygotes_lock = threading.Lock()


def _key(env: dict[str, str]) -> tuple:
    return tuple(sorted((k, v) for k, v in env.items() if not k.startswith(PER_KERNEL_PREFIXES)))


def zygote_for(env: dict[str, str]) -> Zygote | None:
    """Return the zygote for kernels with environment ``env``, starting it if need be.

    It may still be importing (:meth:`Zygote.wait_ready`). None when forking is off, or the
    zygote for this environment could not start or was unusable (it is not tried again).
    """
    if not enabled():
        return None
    key = _key(env)
    with _zygotes_lock:
        zygote = _zygotes.get(key)
        if zygote is not None and zygote.ready is False:
            _zygotes[key] = zygote = None  # ended by wait_ready
        if key not in _zygotes:
            if len(_zygotes) >= MAX_ZYGOTES:
                return None
            try:
                zygote = Zygote({k: v for k, v in env.items() if not k.startswith("JPY_")})
            except OSError:
                zygote = None
            _zygotes[key] = zygote
        return zygote


def prestart(env: dict[str, str] | None = None) -> None:
    """Start the zygote for kernels with ``env`` (default this process's) without waiting.

    It imports while the caller prepares the notebooks, rather than while the first kernels
    wait for it.
    """
    zygote_for(dict(os.environ if env is None else env))


def shutdown() -> None:
    """End every zygote of this process (and any kernel they still have)."""
    with _zygotes_lock:
        for zygote in _zygotes.values():
            if zygote is not None:
                zygote.close()
        _zygotes.clear()


atexit.register(shutdown)


def fork_kernel(argv: list[str], env: dict[str, str], cwd: str) -> ForkedProcess | None:
    """Return a kernel forked from a zygote for this launch, or None to launch it normally."""
    if argv[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
        return None
    zygote = zygote_for(env)
    if zygote is None:
        return None
    # The kernel's parent is the zygote: ipykernel's parent-poller watches it, as a normal
    # kernel watches the process that launched it.
    env = {**env, "JPY_PARENT_PID": str(zygote.pid)}
    try:
        return zygote.fork(argv, env, cwd)
    except (OSError, ValueError):
        return None


def _kill_unwanted(forking: asyncio.Future) -> None:
    if not forking.cancelled() and forking.exception() is None and forking.result() is not None:
        forking.result().kill()


class ForkingProvisioner(LocalProvisioner):
    """jupyter-client's local provisioner, launching kernels as forks of a zygote when it can."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        """Fork the kernel (or launch it as ``LocalProvisioner`` does); return its connection info."""
        launch = LocalProvisioner._scrub_kwargs(kwargs)
        process = None
        if set(launch) <= {"env", "cwd"}:
            env = launch.get("env")
            env = dict(os.environ if env is None else env)
            cwd = str(launch.get("cwd") or os.getcwd())
            forking = asyncio.ensure_future(asyncio.to_thread(fork_kernel, cmd, env, cwd))
            try:
                process = await asyncio.shield(forking)
            except asyncio.CancelledError:
                # The fork goes on in its thread; a kernel nobody will ever connect to
                # must not wait for the end of this process.
                forking.add_done_callback(_kill_unwanted)
                raise
        if process is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process = process
        self.pid = process.pid
        self.pgid = process.pid  # the child made itself a session (and group) leader
        self.cwd = cwd
        return self.connection_info


#: The kernels' socket folders are ``<temporary folder>/compendium-kernels-<pid>-<random>``.
SOCKET_FOLDER_PREFIX = "compendium-kernels-"
_socket_folder: str | None = None
_socket_lock = threading.Lock()
_socket_names = itertools.count(1)


def socket_folder() -> str:
    """Return this process's folder for kernel sockets (made on first use, mode 0700).

    It is removed when this process exits; making one first removes those of this user's
    processes that were killed before they could (:func:`sweep_socket_folders`).
    """
    global _socket_folder
    with _socket_lock:
        if _socket_folder is None or not os.path.isdir(_socket_folder):
            sweep_socket_folders()
            _socket_folder = tempfile.mkdtemp(prefix=f"{SOCKET_FOLDER_PREFIX}{os.getpid()}-")
        return _socket_folder


def sweep_socket_folders() -> list[Path]:
    """Remove the socket folders of this user's processes that no longer run; return them."""
    swept = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SOCKET_FOLDER_PREFIX}*-*"):
        pid = folder.name[len(SOCKET_FOLDER_PREFIX) :].split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.lstat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
        except OSError:
            continue  # gone meanwhile, or another user's process
    return swept


def _remove_socket_folder() -> None:
    global _socket_folder
    with _socket_lock:
        if _socket_folder is not None:
            shutil.rmtree(_socket_folder, ignore_errors=True)
            _socket_folder = None


atexit.register(_remove_socket_folder)


def unix_sockets() -> bool:
    """Return True when kernels can talk over Unix sockets (zmq's ``ipc`` transport)."""
    return os.name == "posix" and zmq.has("ipc")


_shared_context: zmq.asyncio.Context | None = None


@contextlib.contextmanager
def shared_context():
    """Let every kernel made in this block (and its client) share one ZMQ context, ended after.

    jupyter-client gives each manager and each client a context of its own and ends it when
    the kernel shuts down, waiting up to 100 ms for its sockets: about 60 ms each here, twice
    per chapter, during which the build's event loop serves no other kernel. One context
    for a whole execution is ended once, after every kernel has gone.
    """
    global _shared_context
    if _shared_context is not None:  # nested: the outer one ends it
        yield _shared_context
        return
    _shared_context = zmq.asyncio.Context()
    try:
        yield _shared_context
    finally:
        context, _shared_context = _shared_context, None
        # Every kernel has shut down and its sockets are closed by now; should one be left
        # open (an error on the way), nothing it still queues may hold the build up.
        context.destroy(linger=0)


class LocalSocketKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel listens on Unix sockets in :func:`socket_folder`.

    jupyter-client picks a TCP port by binding port 0, closing the socket and handing the
    number to the kernel, which binds it again. In between, any process may take that port:
    most often a client's outgoing connection, whose port comes from the same range. The
    kernel then dies at start with "Address already in use", and the build waits for it until
    its timeout (seen here with two builds running side by side). A socket file named after
    this process's own counter cannot be taken that way, and the 0700 folder keeps other
    users out as well.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("context")
    def _default_context(self) -> zmq.asyncio.Context:
        # Inside shared_context(), not ours to end: see there.
        return _shared_context or super()._context_default()

    def client(self, **kwargs):
        """Return a client for the kernel, on this manager's ZMQ context."""
        if _shared_context is not None:
            kwargs.setdefault("context", _shared_context)
        return super().client(**kwargs)

    async def _async_pre_start_kernel(self, **kw):
        if self.transport == "ipc" and os.path.dirname(self.ip) != socket_folder():
            # The files are "<ip>-<port>"; jupyter-client's default ip is relative to the
            # working folder, which the kernel does not share with this process.
            self.ip = os.path.join(socket_folder(), f"k{next(_socket_names)}")
        return await super()._async_pre_start_kernel(**kw)


class ForkingKernelManager(LocalSocketKernelManager):
    """An ``AsyncKernelManager`` whose kernels are forked by :class:`ForkingProvisioner`.

    A kernel spec that names a provisioner of its own keeps it.
    """

    async def _async_pre_start_kernel(self, **kw):
        spec = self.kernel_spec
        if self.provisioner is None and not (spec.metadata or {}).get("kernel_provisioner"):
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkingProvisioner(
                kernel_id=self.kernel_id, kernel_spec=spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)


def kernel_manager_class() -> type[AsyncKernelManager]:
    """Return the kernel manager class for nbclient.

    Forking (:class:`ForkingKernelManager`) unless ``COMPENDIUM_FORK_KERNELS=0`` or the system
    cannot; else :class:`LocalSocketKernelManager`; jupyter-client's own where there are no
    Unix sockets.
    """
    if not unix_sockets():
        return AsyncKernelManager
    return ForkingKernelManager if enabled() else LocalSocketKernelManager
