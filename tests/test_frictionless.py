"""The contract is the Frictionless standard's: the reference implementation accepts both packages.

The engine checks packages with its own vectorised validator (contract/validation.py); this test
holds the Table Schemas it derives to the standard, so any Frictionless tool can read a package.
"""

from __future__ import annotations

import pytest

from compendium import paths


@pytest.mark.slow
@pytest.mark.parametrize(
    "package", [paths.DEFAULT_DATA_DIR, paths.ROOT / "examples" / "restwell" / "data"]
)
def test_frictionless_validates_the_package(package):
    import frictionless

    report = frictionless.Package(str(package / "datapackage.json")).validate()
    errors = [f"{task.name}: {e.message}" for task in report.tasks for e in task.errors]
    assert report.valid, errors[:10]


@pytest.mark.slow
def test_frictionless_sees_what_the_schema_forbids(package_copy):
    import frictionless

    path = package_copy / "participants.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("interviewed", "on holiday", 1)
    path.write_text("".join(lines), encoding="utf-8")
    report = frictionless.Package(str(package_copy / "datapackage.json")).validate()
    assert not report.valid
    assert {e.type for task in report.tasks for e in task.errors} == {"constraint-error"}
