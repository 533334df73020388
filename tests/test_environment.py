"""environment.yml brings Python 3.11 for conda users, who install from make's own lock."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib

import yaml
from packaging.specifiers import SpecifierSet

from compendium.paths import ROOT

ENVIRONMENT = ROOT / "environment.yml"
LOCK = ROOT / "requirements" / "lock.txt"


def environment() -> dict:
    """environment.yml, parsed."""
    return yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))


def documented_commands() -> list[str]:
    """The pip commands that environment.yml's header tells conda users to run, in order."""
    comments = (
        line.lstrip("#").strip()
        for line in ENVIRONMENT.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    return [line for line in comments if line.startswith("pip install")]


def make_pip_commands() -> list[str]:
    """The pip commands that `make INSTALLER=pip` runs to install .venv, without ``.venv/bin/``."""
    dry_run = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", "INSTALLER=pip", ".venv/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    prefix = ".venv/bin/"
    return [
        line.removeprefix(prefix)
        for line in dry_run.stdout.splitlines()
        if line.startswith(prefix + "pip install")
    ]


def test_environment_pins_nothing_the_lock_decides():
    dependencies = environment()["dependencies"]
    assert all(isinstance(item, str) for item in dependencies), (
        "environment.yml has a pip: section; its packages come from requirements/lock.txt"
    )
    assert sorted(dependencies) == ["pip", "python=3.11"]


def test_environment_python_is_the_one_the_lock_is_for():
    python = next(d for d in environment()["dependencies"] if d.startswith("python="))
    version = python.removeprefix("python=")
    header = LOCK.read_text(encoding="utf-8").splitlines()[0]
    assert re.search(rf"\bPython {re.escape(version)}\b", header), header
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert version + ".0" in SpecifierSet(project["requires-python"])


def test_environment_commands_are_makes_pip_install():
    commands = documented_commands()
    assert commands, "environment.yml names no pip install command"
    assert commands == make_pip_commands()
    for command in commands:
        argv = shlex.split(command)
        assert "--no-deps" in argv, command
        if "-r" in argv:
            assert "--require-hashes" in argv, command
            assert (ROOT / argv[argv.index("-r") + 1]).is_file(), command
