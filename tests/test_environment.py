"""pyproject.toml is the one place versions are pinned; environment.yml must mirror it."""

from __future__ import annotations

import re
import tomllib

import yaml

from compendium.paths import ROOT

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for req in requirements:
        match = PIN.match(req)
        assert match, f"not an exact '==' pin: {req!r}"
        name = _normalise(match.group(1))
        assert name not in pins, f"pinned twice: {name}"
        pins[name] = match.group(2)
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return _pins(reqs)


def environment_pip_list() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    return [str(item) for item in pip_sections[0]]


def test_pyproject_pins_are_exact():
    assert pyproject_pins(), "no pins found in pyproject.toml"


def test_environment_installs_the_package_itself():
    assert "-e ." in environment_pip_list()


def test_environment_pins_match_pyproject():
    env_reqs = [r for r in environment_pip_list() if r != "-e ."]
    assert _pins(env_reqs) == pyproject_pins()


def test_environment_python_matches():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "python=3.11" in env["dependencies"]
    assert "pip" in env["dependencies"]
