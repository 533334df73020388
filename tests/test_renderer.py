"""The render process started ahead renders exactly as ``jupyter-book`` does, or goes quietly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_kernels import SRC, alive

from compendium.build.pipeline import render_command
from compendium.build.renderer import Renderer


def tiny_book(root: Path, page: str) -> Path:
    root.mkdir(parents=True)
    (root / "_config.yml").write_text("title: Tiny\nexecute:\n  execute_notebooks: 'off'\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "intro.md").write_text(page)
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    ["# Intro\n\nPlain text.\n", "# Intro\n\nSee {doc}`nowhere`.\n"],
    ids=["renders", "fails-on-a-warning"],
)
def test_it_renders_with_the_status_and_words_of_jupyter_book_itself(tmp_path, capfd, page):
    arguments = render_command("_toc.yml")[1:]
    by_command = tiny_book(tmp_path / "command", page)
    ahead = tiny_book(tmp_path / "ahead", page)
    expected = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), *arguments],
        cwd=by_command,
        capture_output=True,
        text=True,
    )
    capfd.readouterr()
    status = Renderer(ahead).run(arguments)
    seen = capfd.readouterr()
    assert status == expected.returncode
    assert (status == 0) == ("Plain" in page)

    def words(text: str, root: Path) -> list[str]:
        # Sets print in an order that differs from one process to the next: sort them.
        text = re.sub(
            r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m[1].split(", "))) + "}", text
        )
        return [line for line in text.replace(str(root), "ROOT").splitlines() if line.strip()]

    assert words(seen.out, ahead) == words(expected.stdout, by_command)
    assert words(seen.err, ahead) == words(expected.stderr, by_command)
    written = sorted(p.relative_to(ahead).as_posix() for p in (ahead / "_build").rglob("*.html"))
    assert "_build/html/intro.html" in written
    assert written == sorted(
        p.relative_to(by_command).as_posix() for p in (by_command / "_build").rglob("*.html")
    )


def test_a_cancelled_renderer_exits_at_once_having_written_nothing(tmp_path, capfd):
    root = tiny_book(tmp_path / "book", "# Intro\n")
    renderer = Renderer(root)
    started = time.monotonic()
    renderer.cancel()
    assert renderer.process.returncode == 0
    assert time.monotonic() - started < 5
    assert capfd.readouterr() == ("", "")
    assert sorted(p.name for p in root.iterdir()) == ["_config.yml", "_toc.yml", "intro.md"]


BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from compendium.build.renderer import Renderer
    renderer = Renderer(Path(sys.argv[1]))
    print(renderer.process.pid, flush=True)
    time.sleep(300)
    """
)


def test_a_renderer_ends_with_a_build_that_is_killed(tmp_path):
    root = tiny_book(tmp_path / "book", "# Intro\n")
    build = subprocess.Popen(
        [sys.executable, "-c", BUILD, str(root)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=subprocess.PIPE,
        text=True,
    )
    renderer_pid = int(build.stdout.readline())
    assert alive(renderer_pid)
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=30)
    deadline = time.monotonic() + 30
    while alive(renderer_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(renderer_pid), "the renderer outlived the build"
    assert not (root / "_build").exists()
