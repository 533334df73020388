"""Kernels forked from a warm zygote behave as freshly launched ones, and fall back cleanly.

The tests that start kernels are marked slow; each runs a tiny notebook (a few cells), not a
chapter, except the probe test, which runs the two-chapter book of test_execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from test_execution import CHAPTER

from compendium.build import kernels, zygote
from compendium.build.execution import execute_notebooks, read_notebook

SRC = Path(kernels.__file__).parents[2]


def notebook(*cells: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    return nb


def run(folder: Path, *cells: str, env: dict | None = None):
    """Execute ``cells`` in a kernel whose working directory is ``folder``; return the Outcome."""
    folder.mkdir(parents=True, exist_ok=True)
    (outcome,) = execute_notebooks([(folder / "page.md", notebook(*cells))], env=env)
    return outcome


def printed(outcome, cell: int = 0) -> dict:
    """Return the JSON a cell printed."""
    cells = outcome.notebook.cells
    return json.loads("".join(o.get("text", "") for o in cells[cell].outputs))


def zygote_pids() -> set[int]:
    return {z.pid for z in kernels._zygotes.values() if z is not None}


def alive(pid: int) -> bool:
    """Return True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """Return the processes (zombies included) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def pool(monkeypatch):
    """A private zygote registry, every zygote in it ended after the test."""
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_zygotes", {})
    yield kernels._zygotes
    kernels.shutdown()


@pytest.fixture(scope="module")
def warm_pool():
    """A zygote registry shared by this module's tests that need a zygote, not a new one.

    A zygote takes a second or two to preload. The tests that count zygotes or end them take
    :func:`pool` instead; a test that must know its kernel was forked asks :func:`forks`.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(kernels.ENV_VAR, raising=False)
        patch.setattr(kernels, "_zygotes", {})
        yield kernels._zygotes
        kernels.shutdown()


@pytest.fixture
def forks(monkeypatch) -> list:
    """The kernels forked during the test (a zygote may have been started by an earlier one)."""
    made = []
    fork = kernels.Zygote.fork

    def recording(self, *args, **kwargs):
        made.append(process := fork(self, *args, **kwargs))
        return process

    monkeypatch.setattr(kernels.Zygote, "fork", recording)
    return made


FIRST_CELL = (
    "import json, os, sys\n"
    "print(json.dumps({'ppid': os.getppid(), 'cwd': os.getcwd(), 'env': dict(os.environ),\n"
    "    'modules': sorted(m for m in ('pandas', 'numpy', 'IPython', 'compendium')\n"
    "                      if m in sys.modules)}))"
)


# --------------------------------------------------------------------------- without kernels


def test_the_zygote_is_shared_by_environments_that_differ_only_per_kernel():
    base = {"PATH": "/bin", "LANG": "C.UTF-8"}
    same = {**base, "JPY_PARENT_PID": "1", "PYTEST_CURRENT_TEST": "x", "COMPENDIUM_DATA": "/d"}
    assert kernels._key(base) == kernels._key(same)
    assert kernels._key(base) != kernels._key({**base, "OMP_NUM_THREADS": "1"})
    assert kernels._key(base) != kernels._key({**base, "LANG": "C"})


def test_forking_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "0")
    assert not kernels.enabled()
    assert kernels.kernel_manager_class() is kernels.LocalSocketKernelManager
    assert kernels.zygote_for(dict(os.environ)) is None
    monkeypatch.setenv(kernels.ENV_VAR, "1")
    assert kernels.enabled() == sys.platform.startswith("linux")


@pytest.mark.parametrize("missing", [(os, "fork"), (os, "pidfd_open"), (socket, "send_fds")])
def test_without_fork_pidfds_or_descriptor_passing_kernels_launch_normally(monkeypatch, missing):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.delattr(*missing)
    assert not kernels.enabled()
    assert kernels.kernel_manager_class() is kernels.LocalSocketKernelManager


def test_without_unix_sockets_kernels_use_jupyter_clients_own_manager(monkeypatch):
    monkeypatch.setattr(kernels.zmq, "has", lambda capability: capability != "ipc")
    assert kernels.kernel_manager_class() is AsyncKernelManager


def test_only_this_interpreters_ipykernel_is_forked(pool):
    argv = [sys.executable, "-m", "some_other_kernel", "-f", "x.json"]
    assert kernels.fork_kernel(argv, dict(os.environ), "/") is None
    assert pool == {}  # no zygote was even started


def test_a_thread_makes_the_zygote_refuse_to_fork():
    # In a bare interpreter, as the zygote is (this pytest process has threads of its own).
    script = textwrap.dedent(
        """
        import runpy, sys, threading
        single_threaded = runpy.run_path(sys.argv[1], run_name="zygote")["single_threaded"]
        before = single_threaded()
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        during = single_threaded()
        stop.set()
        worker.join()
        print(before, during)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(kernels.ZYGOTE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "False"]


def test_environment_changes_are_what_was_set_and_removed(monkeypatch):
    monkeypatch.setenv("COMPENDIUM_TEST_GONE", "1")
    before = dict(os.environ)
    monkeypatch.delenv("COMPENDIUM_TEST_GONE")
    monkeypatch.setenv("COMPENDIUM_TEST_NEW", "2")
    assert zygote._environ_changes(before) == (
        {"COMPENDIUM_TEST_NEW": "2"},
        ["COMPENDIUM_TEST_GONE"],
    )


# --------------------------------------------------------------------------- forked kernels


@pytest.mark.slow
def test_a_forked_kernel_gets_the_env_and_cwd_it_was_given_and_the_preloaded_modules(
    pool, tmp_path
):
    envs = {mark: {**os.environ, "COMPENDIUM_TEST_MARK": mark} for mark in ("one", "two")}
    seen_by = {mark: printed(run(tmp_path / mark, FIRST_CELL, env=envs[mark])) for mark in envs}
    (zygote_pid,) = zygote_pids()  # one zygote served both
    for mark, seen in seen_by.items():
        assert seen["ppid"] == zygote_pid
        assert seen["cwd"] == str(tmp_path / mark)
        assert seen["env"]["COMPENDIUM_TEST_MARK"] == mark
        assert seen["env"]["JPY_PARENT_PID"] == str(zygote_pid)
        # The environment asked for (ipykernel's shell sets TERM itself, and adds a few
        # names, as in any kernel: test_a_forked_kernel_looks_like_a_freshly_launched_one).
        asked = {k: v for k, v in envs[mark].items() if k != "TERM"}
        assert {k: v for k, v in seen["env"].items() if k in asked} == asked
        # Warm: pandas was imported by the zygote, compendium was not.
        assert seen["modules"] == ["IPython", "numpy", "pandas"]


FINGERPRINT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, warnings
    import numpy, pandas.io.formats.style, scipy.optimize, scipy.stats, plotly.io as pio
    fds = []
    for fd in sorted(map(int, os.listdir('/proc/self/fd'))):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            continue
        # ZeroMQ makes eventfds lazily, as messages flow: how many exist at a given moment
        # depends on timing, not on how the kernel was started.
        if 'eventfd' not in target:
            fds.append(target if target.startswith('anon_inode') else target.split(':')[0])
    print(json.dumps({
        'path': sys.path, 'flags': repr(sys.flags), 'argv': sys.argv[0], 'orig': sys.orig_argv[:3],
        'env': sorted(k for k in os.environ if k not in ('JPY_PARENT_PID', 'COMPENDIUM_FORK_KERNELS')),
        'signals': {s.name: repr(signal.getsignal(s)) for s in signal.Signals
                    if s not in (signal.SIGKILL, signal.SIGSTOP)},
        'blocked': sorted(map(int, signal.pthread_sigmask(signal.SIG_BLOCK, []))),
        'threads': threading.active_count(),
        'filters': sorted(map(repr, warnings.filters)),
        'stdio': [(s.encoding, s.errors, s.line_buffering, s.write_through)
                  for s in (sys.__stdin__, sys.__stdout__, sys.__stderr__)],
        'stdin_at_end': sys.__stdin__.read() == '',
        'leader': [os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid()],
        'parent_pid': os.getppid() == int(os.environ['JPY_PARENT_PID']),
        'renderer': pio.renderers.default, 'main': sys.modules['__main__'].__name__,
        'shell': type(get_ipython()).__name__,
        'fds': sorted(fds),
    }))
    """
)


@pytest.mark.slow
def test_a_forked_kernel_looks_like_a_freshly_launched_one(warm_pool, forks, tmp_path, monkeypatch):
    forked = run(tmp_path / "page", FINGERPRINT)
    assert len(forks) == 1, "the kernel was not forked"
    monkeypatch.setenv(kernels.ENV_VAR, "0")
    fresh = run(tmp_path / "page", FINGERPRINT)
    assert forked.error is None and fresh.error is None, forked.error or fresh.error
    forked, fresh = printed(forked), printed(fresh)
    assert {k: (v, fresh[k]) for k, v in forked.items() if fresh[k] != v} == {}


@pytest.mark.slow
def test_the_probe_still_reports_the_modules_and_data_a_chapter_used(
    warm_pool, tmp_path, monkeypatch
):
    from compendium import paths

    monkeypatch.setenv("COMPENDIUM_DATA", str(paths.DEFAULT_DATA_DIR))
    source = tmp_path / "coders.md"
    source.write_text(CHAPTER.format(table="coders"))
    chapter = read_notebook(source)
    chapter.cells.insert(0, nbformat.v4.new_code_cell(FIRST_CELL))
    (outcome,) = execute_notebooks([(source, chapter)])
    assert outcome.error is None, outcome.error
    assert printed(outcome, 0)["ppid"] in zygote_pids()
    assert printed(outcome, 0)["modules"] == ["IPython", "numpy", "pandas"]
    data = [name for names in outcome.inputs["data"].values() for name in names]
    assert data == ["coders.csv"]
    assert {"presentation/provenance.py", "contract/loading.py"} <= set(outcome.inputs["modules"])


@pytest.mark.slow
def test_an_error_in_a_cell_is_reported(warm_pool, forks, tmp_path):
    outcome = run(tmp_path / "page", "x = 1", "1 / 0")
    assert len(forks) == 1
    assert outcome.error.startswith("CellExecutionError")
    assert "ZeroDivisionError" in outcome.error


@pytest.mark.slow
def test_a_kernel_that_dies_is_reported_dead(warm_pool, forks, tmp_path):
    outcome = run(tmp_path / "page", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert len(forks) == 1
    assert outcome.error.startswith("DeadKernelError"), outcome.error


async def _interrupt_then_kill(cwd: Path) -> tuple[dict, kernels.ForkedProcess, int]:
    manager = kernels.ForkingKernelManager()
    await manager.start_kernel(cwd=str(cwd))
    process = manager.provisioner.process
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        msg_id = client.execute("import time\ntime.sleep(120)")
        await asyncio.sleep(1.0)
        await manager.interrupt_kernel()
        reply = await client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = await client.get_shell_msg(timeout=30)
        await manager.shutdown_kernel(now=True)  # kills it
        alive_after = await manager.is_alive()
    finally:
        client.stop_channels()
    return reply["content"], process, alive_after


@pytest.mark.slow
def test_a_forked_kernel_can_be_interrupted_and_killed(warm_pool, tmp_path):
    content, process, alive_after = asyncio.run(_interrupt_then_kill(tmp_path))
    assert isinstance(process, kernels.ForkedProcess)
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt"
    assert not alive_after
    assert process.returncode == -signal.SIGKILL
    assert not alive(process.pid)  # reaped by the zygote, not left a zombie


@pytest.mark.slow
def test_turned_off_kernels_are_launched_normally(pool, tmp_path, monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "0")
    seen = printed(run(tmp_path / "page", FIRST_CELL))
    assert seen["ppid"] == os.getpid()
    assert seen["modules"] == ["IPython"]
    assert pool == {}


CONNECTION_CELL = (
    "import json\n"
    "from ipykernel.connect import get_connection_info\n"
    "print(json.dumps(get_connection_info(unpack=True), default=str))"
)


@pytest.mark.slow
@pytest.mark.parametrize("fork", ["1", "0"])
def test_kernels_listen_on_unix_sockets_in_a_private_folder_never_tcp_ports(
    warm_pool, tmp_path, monkeypatch, fork
):
    # A TCP port chosen by jupyter-client can be taken by another process before the kernel
    # binds it; the kernel then fails to start (seen as a 60 s hang in this suite).
    monkeypatch.setenv(kernels.ENV_VAR, fork)
    info = printed(run(tmp_path / "page", CONNECTION_CELL))
    folder = Path(kernels.socket_folder())
    assert info["transport"] == "ipc"
    assert Path(info["ip"]).parent == folder
    assert folder.stat().st_mode & 0o777 == 0o700
    ports = [info[f"{channel}_port"] for channel in ("shell", "iopub", "stdin", "control", "hb")]
    assert len(set(ports)) == 5
    assert not [p for p in ports if Path(f"{info['ip']}-{p}").exists()]  # gone with the kernel


@pytest.mark.slow
def test_a_zygote_that_cannot_start_means_a_normal_launch(pool, tmp_path, monkeypatch):
    broken = tmp_path / "zygote.py"
    broken.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(kernels, "ZYGOTE", broken)
    outcome = run(tmp_path / "page", FIRST_CELL)
    assert outcome.error is None, outcome.error
    assert printed(outcome)["ppid"] == os.getpid()
    assert len(pool) == 1
    assert kernels.zygote_for(dict(os.environ)) is None  # tried once, not again
    assert len(pool) == 1


MANAGER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import nbformat
    from compendium.build.execution import execute_notebooks
    folder = Path(sys.argv[1])
    cell = (
        "import os, pathlib, time\\n"
        "pathlib.Path('pids').write_text(f'{os.getpid()} {os.getppid()}')\\n"
        "time.sleep(300)"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    execute_notebooks([(folder / 'page.md', nb)], timeout=600)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_nothing_outlives_an_interrupted_or_killed_build(tmp_path, stop):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop(kernels.ENV_VAR, None)
    build = subprocess.Popen(
        [sys.executable, "-c", MANAGER, str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids = tmp_path / "pids"
    deadline = time.monotonic() + 120
    while not pids.exists() and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids.exists(), "the kernel never ran its cell"
    kernel_pid, zygote_pid = map(int, pids.read_text().split())
    assert zygote_pid != build.pid  # forked, not launched by the build itself
    (sockets,) = Path(tempfile.gettempdir()).glob(f"{kernels.SOCKET_FOLDER_PREFIX}{build.pid}-*")
    assert any(sockets.iterdir())
    build.send_signal(stop)
    build.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (alive(kernel_pid) or alive(zygote_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(kernel_pid), "the kernel outlived the build"
    assert not alive(zygote_pid), "the zygote outlived the build"
    # Its kernels' socket folder went with it or, killed, goes with the next build's sweep
    # (another test's build, on another worker, may have swept it already).
    if stop == signal.SIGKILL:
        kernels.sweep_socket_folders()
    assert not sockets.exists()


@pytest.mark.slow
def test_ending_the_pool_ends_the_zygote_and_its_kernels(pool, tmp_path):
    run(tmp_path / "page", "1")
    (zygote_pid,) = zygote_pids()
    assert children(zygote_pid) == []  # the finished kernel was reaped: no zombie
    kernels.shutdown()
    assert not alive(zygote_pid)
    assert pool == {}
