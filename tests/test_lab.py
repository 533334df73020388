"""``make lab``: the chapters open as notebooks in JupyterLab through jupytext.

The target starts a server, so it is not run here; these check the command it runs, the
setting that makes JupyterLab open MyST files as notebooks, and that jupytext reads every
chapter as a notebook with code cells.
"""

from __future__ import annotations

import json
import shlex
import subprocess

import jupytext
import yaml

from compendium import paths

SETTINGS = paths.RESOURCES_DIR / "jupyterlab"


def _lab_command() -> list[str]:
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "lab"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    (line,) = [line for line in dry.stdout.splitlines() if "jupyter lab" in line]
    return shlex.split(line)


def test_make_lab_starts_jupyterlab_on_the_book_with_the_project_settings():
    argv = _lab_command()
    assert argv[:2] == [".venv/bin/jupyter", "lab"]
    assert "--ip=127.0.0.1" in argv and "--notebook-dir=." in argv
    settings = next(a for a in argv if a.startswith("--LabApp.app_settings_dir="))
    assert (paths.ROOT / settings.split("=", 1)[1]).resolve() == SETTINGS.resolve()
    assert "--LabApp.default_url=/lab/tree/book/intro.md" in argv
    listed = subprocess.run(["make", "help"], cwd=paths.ROOT, capture_output=True, text=True)
    assert " lab " in listed.stdout


def test_jupyterlab_opens_markdown_and_myst_files_as_jupytext_notebooks():
    overrides = json.loads((SETTINGS / "overrides.json").read_text(encoding="utf-8"))
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}


def test_every_chapter_reads_as_a_notebook_with_code_cells():
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [toc["root"]] + [
        chapter["file"] for part in toc["parts"] for chapter in part["chapters"]
    ]
    with_code = 0
    for name in chapters:
        notebook = jupytext.read(paths.ROOT / f"{name}.md")
        if notebook.metadata.get("kernelspec"):
            assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "myst"
            with_code += any(cell.cell_type == "code" for cell in notebook.cells)
    assert with_code >= 5
