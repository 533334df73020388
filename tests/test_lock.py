"""requirements/*.txt lock every dependency of pyproject.toml, with hashes, and keep in step with it.

The checks are tools/lock.py's (``make`` runs them before it installs); the tests on copies
show that each one fails when it should.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from compendium.paths import ROOT

LOCK = ROOT / "requirements" / "lock.txt"


def _load_tool():
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lock_tool = _load_tool()


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of what the locks are made from and checked by: pyproject.toml, requirements/, tools/."""
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in a file."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_locks_match_pyproject():
    assert lock_tool.problems(ROOT) == []


def test_every_direct_pin_is_locked_at_the_pinned_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    text = LOCK.read_text(encoding="utf-8")
    for requirement in requirements:
        name, version = requirement.split("==")
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        assert re.search(rf"^{re.escape(canonical)}=={re.escape(version)} \\$", text, re.M), (
            f"{requirement} is not locked at that version"
        )


def test_every_locked_package_has_a_hash():
    locked, malformed = lock_tool.parse_lock(LOCK.read_text(encoding="utf-8"))
    assert malformed == []
    # The whole tree, not only the 18 direct dependencies.
    assert len(locked) > 100
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


def test_rfc3987_syntax_is_neither_locked_nor_installed():
    locked, _ = lock_tool.parse_lock(LOCK.read_text(encoding="utf-8"))
    assert "rfc3987-syntax" not in locked
    assert importlib.util.find_spec("rfc3987_syntax") is None


def test_a_copy_matches_until_it_is_edited(repo):
    assert lock_tool.problems(repo) == []


def first_pin(repo: Path, group: str | None = None) -> tuple[str, str]:
    """Return (name, version) of the first ``==`` pin of the dependencies, or of a dependency group."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    pins = pyproject["dependency-groups"][group] if group else pyproject["project"]["dependencies"]
    name, version = pins[0].split("==")
    return name, version


@pytest.mark.parametrize(
    ("lock", "group"), [("lock.txt", None), ("uv.txt", "installer")], ids=["lock", "uv"]
)
def test_changing_a_pin_makes_its_lock_stale(repo, lock, group):
    name, version = first_pin(repo, group)
    edit(repo / "pyproject.toml", f'"{name}=={version}"', f'"{name}==0.0.1"')
    source = lock_tool.Lock(f"requirements/{lock}", group).source
    assert lock_tool.problems(repo) == [
        f"requirements/{lock} is stale (its spec-sha256 is not that of {source}): run `make lock`",
        f"requirements/{lock} locks {name} {version} but pyproject.toml pins 0.0.1: run `make lock`",
    ]


def test_adding_a_dependency_makes_the_lock_stale(repo):
    name, version = first_pin(repo)
    added = f'"{name}=={version}",\n    "cowsay==6.1",'
    edit(repo / "pyproject.toml", f'"{name}=={version}",', added)
    found = lock_tool.problems(repo)
    assert len(found) == 2 and "requirements/lock.txt is stale" in found[0], found
    assert found[1] == "requirements/lock.txt lacks cowsay, pinned at 6.1: run `make lock`"


def test_changing_the_excludes_makes_the_lock_stale(repo):
    with (repo / "requirements" / "excludes.txt").open("a", encoding="utf-8") as excludes:
        excludes.write("lark\n")
    found = lock_tool.problems(repo)
    assert found == [
        "requirements/lock.txt is stale (its spec-sha256 is not that of pyproject.toml's "
        "dependencies and extras, and requirements/excludes.txt): run `make lock`"
    ]


def test_editing_other_pyproject_sections_keeps_the_lock(repo):
    edit(repo / "pyproject.toml", "line-length = 100", "line-length = 99")
    assert lock_tool.problems(repo) == []


def test_a_loose_pin_is_reported(repo):
    name, version = first_pin(repo)
    edit(repo / "pyproject.toml", f'"{name}=={version}"', f'"{name}>=0.1"')
    assert f"pyproject.toml: '{name}>=0.1' is not an exact == pin" in lock_tool.problems(repo)


def test_a_requirement_without_hashes_is_reported(repo):
    lock = repo / "requirements" / "lock.txt"
    text = lock.read_text(encoding="utf-8")
    stripped = re.sub(
        r"^(zipp==[^ ]+) \\\n(?:    --hash=sha256:\w+(?: \\)?\n)+", r"\1\n", text, flags=re.M
    )
    assert stripped != text
    lock.write_text(stripped, encoding="utf-8")
    found = lock_tool.problems(repo)
    assert len(found) == 1 and re.fullmatch(
        r"requirements/lock.txt: zipp==\S+ has no --hash", found[0]
    )


def test_a_locked_excluded_package_is_reported(repo):
    with (repo / "requirements" / "lock.txt").open("a", encoding="utf-8") as lock:
        lock.write("rfc3987-syntax==1.1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    found = lock_tool.problems(repo)
    assert found == [
        "requirements/lock.txt locks rfc3987-syntax, which requirements/excludes.txt leaves out:"
        " run `make lock`"
    ]


def test_check_command_exits_1_with_one_line_per_problem(repo):
    def check() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(repo / "tools" / "lock.py"), "check"],
            capture_output=True,
            text=True,
        )

    assert check().returncode == 0
    name, version = first_pin(repo)
    edit(repo / "pyproject.toml", f'"{name}=={version}"', f'"{name}==0.0.1"')
    stale = check()
    assert stale.returncode == 1
    lines = stale.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("lock: ") for line in lines), stale.stderr
    assert all(line.endswith("run `make lock`") for line in lines), stale.stderr


def test_a_changed_lock_reinstalls_the_venv():
    database = subprocess.run(
        ["make", "-p", "-q", "--no-print-directory", ".venv/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    rule = re.search(r"^\.venv/\.installed: (.*)$", database, re.M)
    assert rule, "no .venv/.installed rule in the Makefile"
    prerequisites = rule.group(1).split()
    assert "requirements/lock.txt" in prerequisites
    assert "pyproject.toml" in prerequisites
