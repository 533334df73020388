"""Make and check the hashed locks that ``make`` installs from.

``pyproject.toml`` is the one place people edit versions. ``make lock`` runs
``python tools/lock.py compile``, which asks uv to resolve every transitive dependency for
Linux x86_64 and Python 3.11, with the SHA-256 of every file, into two locks:

``requirements/lock.txt``
    the package's dependencies and all its extras, less the packages named in
    ``requirements/excludes.txt``; ``make`` syncs ``.venv`` to exactly this list.
``requirements/uv.txt``
    uv itself, from the ``installer`` dependency group; ``make`` installs it into ``.uv``.

The first line of each lock records the SHA-256 of what it was made from: the pins in
``pyproject.toml``, the excluded packages, the target Python and platform.
``python tools/lock.py check`` (run by ``make`` before it installs, and by
``tests/test_lock.py``) prints one line per problem and exits 1 when a lock no longer matches
``pyproject.toml``: a stale hash, a direct dependency locked at another version than the one
pinned, a requirement without a hash, an excluded package that is locked.

Only the standard library is used, so the script runs before any environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
EXCLUDES = "requirements/excludes.txt"
COMPILE_COMMAND = "make lock"

DIGEST = re.compile(r"^# spec-sha256: ([0-9a-f]{64})\b", re.MULTILINE)
# A direct dependency as pyproject.toml must state it: name, optional extras, exact version.
DIRECT_PIN = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;,]+)"
    r"\s*(?:;.*)?$"
)
# A requirement as uv writes it in a lock: name, optional extras, exact version, then hashes.
LOCKED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
# The name a requirement starts with, whatever follows it.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


def normalise(name: str) -> str:
    """Return a distribution name in its canonical form (PEP 503: lower case, runs of ``-_.`` as ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Lock:
    """A lock file and the part of ``pyproject.toml`` it is made from.

    Attributes
    ----------
    path : str
        The lock, relative to the repository root.
    group : str or None
        The dependency group it locks; None for the project's dependencies and all its extras.
    """

    path: str
    group: str | None = None

    @property
    def source(self) -> str:
        """Name the part of pyproject.toml that this lock is made from, for messages."""
        if self.group:
            return f"pyproject.toml's [dependency-groups] {self.group}"
        return f"pyproject.toml's dependencies and extras, and {EXCLUDES}"

    def requirements(self, pyproject: dict) -> list[str]:
        """Return the requirement strings that this lock resolves."""
        if self.group:
            return list(pyproject.get("dependency-groups", {}).get(self.group, []))
        project = pyproject["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements.extend(extra)
        return requirements

    def excluded(self, root: Path) -> list[str]:
        """Return the packages kept out of this lock (canonical names)."""
        if self.group:
            return []
        return excluded_packages((root / EXCLUDES).read_text(encoding="utf-8"))

    def spec(self, root: Path, pyproject: dict) -> dict:
        """Return everything the lock is made from, as the dict whose hash it records."""
        if self.group:
            pins = {f"dependency-groups.{self.group}": self.requirements(pyproject)}
        else:
            project = pyproject["project"]
            pins = {
                "dependencies": project.get("dependencies", []),
                "optional-dependencies": project.get("optional-dependencies", {}),
                "excludes": self.excluded(root),
            }
        return {**pins, "python": PYTHON_VERSION, "platform": PLATFORM}

    def uv_sources(self) -> list[str]:
        """Return the arguments that tell ``uv pip compile`` what to resolve."""
        if self.group:
            return ["--group", self.group]
        return ["pyproject.toml", "--all-extras", "--excludes", EXCLUDES]


LOCKS = (Lock("requirements/lock.txt"), Lock("requirements/uv.txt", group="installer"))


def excluded_packages(text: str) -> list[str]:
    """Return the package names listed in an excludes file (one a line, ``#`` comments)."""
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return sorted(normalise(name) for name in names if name)


def digest(spec: dict) -> str:
    """Return the SHA-256 of a lock's specification, as canonical JSON."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_lock(text: str) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """Read a lock's requirements.

    Returns
    -------
    locked : dict
        Canonical name -> (version, number of ``--hash=sha256:`` values).
    malformed : list of str
        Requirement lines that are not an exact ``name==version`` pin.
    """
    locked: dict[str, tuple[str, int]] = {}
    malformed: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LOCKED.match(line)
        if match is None:
            malformed.append(line.strip())
            continue
        locked[normalise(match["name"])] = (match["version"], len(HASH.findall(line)))
    return locked, malformed


def direct_pins(requirements: list[str], project_name: str) -> tuple[dict[str, str], list[str]]:
    """Return the exact pins of direct dependencies, and the requirements that are not ``==`` pins.

    A requirement on the project itself (an extra that includes another) is not a pin.
    """
    pins: dict[str, str] = {}
    loose: list[str] = []
    for requirement in requirements:
        match = DIRECT_PIN.match(requirement)
        if match is None:
            named = NAME.match(requirement.strip())
            if not (named and normalise(named.group(0)) == normalise(project_name)):
                loose.append(requirement)
            continue
        pins[normalise(match["name"])] = match["version"]
    return pins, loose


def lock_problems(lock: Lock, root: Path, pyproject: dict) -> list[str]:
    """Return one line per way in which ``lock`` does not match ``pyproject.toml``."""
    path = root / lock.path
    if not path.is_file():
        return [f"{lock.path} is missing: run `make lock`"]
    text = path.read_text(encoding="utf-8")
    problems = []
    recorded = DIGEST.search(text)
    if recorded is None:
        problems.append(f"{lock.path} records no spec-sha256 line: run `make lock`")
    elif recorded.group(1) != digest(lock.spec(root, pyproject)):
        problems.append(
            f"{lock.path} is stale (its spec-sha256 is not that of {lock.source}): run `make lock`"
        )
    locked, malformed = parse_lock(text)
    problems += [f"{lock.path}: not an exact name==version pin: {line}" for line in malformed]
    problems += [
        f"{lock.path}: {name}=={version} has no --hash"
        for name, (version, hashes) in locked.items()
        if hashes == 0
    ]
    pins, loose = direct_pins(lock.requirements(pyproject), pyproject["project"]["name"])
    problems += [f"pyproject.toml: {req!r} is not an exact == pin" for req in loose]
    for name, version in pins.items():
        if name not in locked:
            problems.append(f"{lock.path} lacks {name}, pinned at {version}: run `make lock`")
        elif locked[name][0] != version:
            problems.append(
                f"{lock.path} locks {name} {locked[name][0]} but pyproject.toml pins {version}:"
                " run `make lock`"
            )
    problems += [
        f"{lock.path} locks {name}, which {EXCLUDES} leaves out: run `make lock`"
        for name in lock.excluded(root)
        if name in locked
    ]
    return problems


def problems(root: Path = ROOT) -> list[str]:
    """Return one line per problem with any of the locks of the repository at ``root``."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return [problem for lock in LOCKS for problem in lock_problems(lock, root, pyproject)]


def compile_locks(uv: str, uv_args: list[str], root: Path = ROOT) -> None:
    """Regenerate every lock with uv, each headed by the hash of what it was made from.

    Versions already in a lock are kept where they still fit (uv reads its output file as
    preferences); pass ``--upgrade`` or ``--upgrade-package NAME`` in ``uv_args`` to move them.
    """
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    for lock in LOCKS:
        command = [
            uv, "pip", "compile", *lock.uv_sources(), "--generate-hashes",
            "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
            "--custom-compile-command", COMPILE_COMMAND, "--output-file", lock.path, *uv_args,
        ]  # fmt: skip
        # uv writes the lock to --output-file and echoes it on stdout: keep only the file.
        subprocess.run(command, cwd=root, check=True, stdout=subprocess.DEVNULL)
        path = root / lock.path
        header = (
            f"# spec-sha256: {digest(lock.spec(root, pyproject))}"
            f"  (tools/lock.py: hash of {lock.source}; Python {PYTHON_VERSION}, {PLATFORM})\n"
        )
        path.write_text(header + path.read_text(encoding="utf-8"), encoding="utf-8")


def interpreter_problem() -> str | None:
    """Return why this interpreter cannot take the lock (another Python version), or None."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running == PYTHON_VERSION:
        return None
    return (
        f"{sys.executable} is Python {running}, but the lock is for Python {PYTHON_VERSION}:"
        f" run make with PYTHON=python{PYTHON_VERSION}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``compile`` (``make lock``) or ``check`` (before ``make`` installs)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compile_parser = commands.add_parser(
        "compile", help="regenerate the locks; other arguments go to `uv pip compile`"
    )
    compile_parser.add_argument("--uv", default="uv", help="the uv executable (default: uv)")
    commands.add_parser("check", help="exit 1, one line per problem, if a lock is stale")
    args, uv_args = parser.parse_known_args(argv)
    if args.command == "compile":
        compile_locks(args.uv, uv_args)
        return 0
    if uv_args:
        parser.error(f"unrecognised arguments: {' '.join(uv_args)}")
    found = problems()
    interpreter = interpreter_problem()
    found += [interpreter] if interpreter else []
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
