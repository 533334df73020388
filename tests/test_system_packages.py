"""tools/system-packages: `make test` installs the Debian packages its tests need, or names the command.

The real packages stay installed: the script's CHROMIUM, NPM and APT_GET point at files in a
temporary directory, and a stand-in apt-get records how it was called.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compendium.paths import ROOT

SCRIPT = ROOT / "tools" / "system-packages"
IS_ROOT = os.geteuid() == 0


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the script with the given overrides (the rest of the environment as it is)."""
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def fake_apt_get(tmp_path: Path, installs: Path | None) -> Path:
    """An apt-get stand-in that logs its arguments; ``install`` creates ``installs`` if given."""
    log = tmp_path / "apt-get.log"
    script = tmp_path / "apt-get"
    create = f'touch "{installs}"; chmod +x "{installs}"' if installs else ":"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "{log}"\n'
        f"if [[ $1 == install ]]; then {create}; fi\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt-get.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_nothing_happens_when_everything_is_there(tmp_path):
    chromium = tmp_path / "chromium"
    chromium.touch(mode=0o755)
    apt_get = fake_apt_get(tmp_path, installs=None)
    done = run(tmp_path, CHROMIUM=str(chromium), NPM=sys.executable, APT_GET=str(apt_get))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert apt_calls(tmp_path) == []


def test_without_apt_get_it_names_the_one_command_and_stops(tmp_path):
    done = run(
        tmp_path,
        CHROMIUM=str(tmp_path / "no-chromium"),
        NPM="no-such-npm",
        APT_GET=str(tmp_path / "no-apt-get"),
    )
    sudo = "" if IS_ROOT else "sudo "
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"system: the tests need chromium npm; install with: {sudo}apt-get install -y chromium npm"
    ]


def test_as_root_it_installs_what_is_missing_with_apt_get(tmp_path):
    chromium = tmp_path / "chromium"
    apt_get = fake_apt_get(tmp_path, installs=chromium)
    done = run(tmp_path, CHROMIUM=str(chromium), NPM=sys.executable, APT_GET=str(apt_get))
    if IS_ROOT:
        assert done.returncode == 0, done.stderr
        assert apt_calls(tmp_path) == [
            "update DEBIAN_FRONTEND=noninteractive",
            "install -y --no-install-recommends chromium DEBIAN_FRONTEND=noninteractive",
        ]
    else:
        # Not root: nothing is installed, the command is named instead.
        assert done.returncode == 1
        assert apt_calls(tmp_path) == []
        assert "sudo apt-get install -y chromium" in done.stderr


def test_it_fails_when_apt_get_did_not_bring_the_package(tmp_path):
    apt_get = fake_apt_get(tmp_path, installs=None)
    done = run(
        tmp_path, CHROMIUM=str(tmp_path / "chromium"), NPM=sys.executable, APT_GET=str(apt_get)
    )
    assert done.returncode == 1
    expected = "still missing" if IS_ROOT else "apt-get install -y chromium"
    assert expected in done.stderr
