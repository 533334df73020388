"""A hostile corpus: what a careful attacker or a tired researcher might feed the engine.

Each case states the exact message or outcome expected. Classes: escaping, disclosure,
formula injection, atomic writes, symbolic links and unknown resources, failures told in one
line (never a traceback), malformed descriptors, and huge inputs. The validator's own located
messages are in tests/test_validation.py (CASES); the whole-book checks are in
tests/browser/test_hostile_book.py and tests/browser/test_disclosure_build.py.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from compendium import paths
from compendium.analysis import disclosure
from compendium.analysis.disclosure import (
    AtMost,
    Sum,
    cells_to_hide,
    crosstab_cells_to_hide,
    protect_counts,
    recovered,
    small_cell_threshold,
    suppress,
)
from compendium.cli import main
from compendium.contract.descriptor import (
    DEFAULT_SMALL_CELL_THRESHOLD,
    UNSAFE_MYST_MESSAGE,
    UNSAFE_TERM_MESSAGE,
)
from compendium.contract.loading import HASH_CHUNK, file_sha256
from compendium.contract.validation import validate_package
from compendium.contract.writing import write_atomically
from compendium.presentation import html, tables
from compendium.presentation.figures import AccessibleFigure
from compendium.presentation.links import anchor, decision_href

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- escaping


def test_a_template_escapes_every_value():
    out = html.render(
        "findings.html",
        findings=[
            {
                "id": "F1",
                "anchor": "finding-F1",
                "statement": SCRIPT,
                "wording": "synthetic",
                "wording_note": IMG,
                "decisions": [{"id": "D1", "href": "trace.html#decision-D1", "text": IMG}],
                "reason": None,
            }
        ],
    )
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_a_table_escapes_cells_caption_index_and_multiindex_headers():
    frame = pd.DataFrame(
        [[SCRIPT, 1]],
        index=pd.Index([IMG], name="<b>row</b>"),
        columns=pd.MultiIndex.from_tuples([("<svg onload=alert(1)>", "n"), ("x", SCRIPT)]),
    )
    out = tables.style_table(frame, "t", caption=IMG, hide_index=False).to_html()
    assert not re.search(r"<(script|img|svg|b)[\s>]", out), out
    assert out.count("&lt;script&gt;") == 2 and "&lt;svg onload=alert(1)&gt;" in out


def test_a_multi_line_cell_is_a_list_of_escaped_lines():
    assert tables.cell_lines(f"{SCRIPT}\n{IMG}") == (
        "<ul><li>&lt;script&gt;alert(1)&lt;/script&gt;</li>"
        "<li>&lt;img src=x onerror=alert(1)&gt;</li></ul>"
    )


def test_element_ids_and_anchors_cannot_leave_their_attribute():
    assert tables.element_id('T3"><img src=x>') == "T3---img-src-x-"
    assert anchor("decision", 'T3.05"><img') == "decision-T3-05---img"
    assert decision_href("javascript:alert(1)") == "trace.html#decision-javascript-alert-1-"


def test_a_figure_escapes_its_alt_text_and_caption():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    bundle = AccessibleFigure(
        fig, alt='"><script>alert(1)</script>', caption=IMG
    )._repr_mimebundle_()
    assert "<script>" not in bundle["text/html"] and "<img src=x" not in bundle["text/html"]
    assert 'alt="&#34;&gt;&lt;script&gt;' in bundle["text/html"]


def test_the_footer_links_only_web_addresses_and_escapes_the_rest():
    from compendium.build.sphinx_ext import footer_html

    out = footer_html(f"javascript:alert(1) {IMG} see https://example.org/a")
    assert out == (
        '<p class="compendium-footer">javascript:alert(1) &lt;img src=x onerror=alert(1)&gt; '
        'see <a href="https://example.org/a">https://example.org/a</a></p>'
    )


def test_the_theme_gets_the_authors_name_escaped():
    from compendium.build.sphinx_ext import escape_theme_context

    context = {"author": f"A. Author {SCRIPT}"}
    escape_theme_context(None, "index", "page.html", context, None)
    assert context["author"] == "A. Author &lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.mark.parametrize(
    "definition",
    [
        "A term.\n\n```{raw} html\n<script>alert(1)</script>\n```",
        "A term. {raw}`<script>alert(1)</script>`",
        "A term.\n\n:::{include} /etc/passwd\n:::",
        "A term.\n\n~~~{eval-rst}\n.. raw:: html\n~~~",
    ],
    ids=["raw directive", "raw role", "include fence", "eval-rst fence"],
)
def test_a_glossary_definition_cannot_hold_a_directive_or_the_raw_role(package_copy, definition):
    descriptor = package_copy / "study.yaml"
    import yaml

    data = yaml.safe_load(descriptor.read_text(encoding="utf-8"))
    data["glossary"][0]["definition"] = definition
    descriptor.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    messages = [p.message for p in validate_package(package_copy)]
    assert messages == [UNSAFE_MYST_MESSAGE]


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("term", "PSW\n\n<svg onload=alert(1)>"),
        ("term", "PSW {raw}`<script>alert(1)</script>`"),
        ("also", "peer worker\r\n```{raw} html"),
    ],
    ids=["line break in a term", "raw role in a term", "line break in another name"],
)
def test_a_glossary_term_is_one_line_without_the_raw_role(package_copy, key, name):
    descriptor = package_copy / "study.yaml"
    import yaml

    data = yaml.safe_load(descriptor.read_text(encoding="utf-8"))
    data["glossary"][0][key] = name if key == "term" else [name]
    descriptor.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    problems = validate_package(package_copy)
    assert [p.message for p in problems] == [UNSAFE_TERM_MESSAGE]
    assert problems[0].path.endswith("study.yaml") and problems[0].line > 1


# --------------------------------------------------------------------------- disclosure


def test_two_ones_in_a_known_total_are_not_left_to_each_other():
    # hidden together they add up to 2, and each is at least 1: both would be 1
    assert cells_to_hide([12, 1, 1], 5) == {0, 1, 2}


def test_a_small_cell_beside_one_other_takes_it_along():
    assert cells_to_hide([6, 1], 5) == {0, 1}


def test_a_group_smaller_than_the_threshold_shows_no_count():
    index = pd.MultiIndex.from_tuples([("Gender", "woman"), ("Gender", "man")])
    table = pd.DataFrame({("g", "n"): [3, 0], ("g", "%"): [100.0, 0.0]}, index=index)
    shown = protect_counts(table, 5, [3])
    # even its zero: with n itself small, every cell of the group is hidden
    assert shown[("g", "n")].tolist() == ["<5", "<5"]
    assert shown[("g", "%")].tolist() == ["<5", "<5"]


def test_a_crosstab_margin_is_protected_like_any_cell():
    table = pd.DataFrame(
        [[10, 2, 12], [8, 9, 17], [18, 11, 29]],
        index=["a", "b", "All"],
        columns=["x", "y", "All"],
    )
    hidden = crosstab_cells_to_hide(table, 5)
    assert hidden.to_numpy().tolist() == [
        [True, True, False],
        [True, True, False],
        [False, False, False],
    ]


def test_the_attacker_recovers_a_lone_hidden_cell_by_subtraction():
    assert recovered([12, 7, 1], {2}, [Sum((0, 1, 2), known=20)]) == {2}
    assert recovered([12, 7, 1], {1, 2}, [Sum((0, 1, 2), known=20)]) == set()


def test_a_theme_with_one_passage_hides_the_passage_count_that_pins_its_people():
    # people (cell 0) are at most passages (cell 1): one passage pins one person
    hidden = suppress([1, 1], 5, bounds=[AtMost(0, (1,))], people=[True, False])
    assert hidden == {0, 1}


def test_a_descriptor_without_disclosure_settings_gets_the_real_data_default(
    package_copy, monkeypatch
):
    from compendium.contract.descriptor import read_descriptor

    monkeypatch.delenv(disclosure.ENV_VAR, raising=False)
    _replace(package_copy / "study.yaml", "disclosure:\n  small_cell_threshold: 0\n", "")
    assert small_cell_threshold(read_descriptor(package_copy)) == DEFAULT_SMALL_CELL_THRESHOLD == 10


def test_a_negative_threshold_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv(disclosure.ENV_VAR, "-1")
    with pytest.raises(ValueError) as error:
        small_cell_threshold()
    assert str(error.value) == (
        "environment variable COMPENDIUM_SMALL_CELL: small-cell threshold -1 must be 0 or more"
    )


def test_a_glued_count_of_people_below_the_threshold_is_the_marker(monkeypatch):
    from compendium.presentation.chapter import Chapter

    monkeypatch.setenv(disclosure.ENV_VAR, "5")
    chapter = Chapter("trace")
    declined = chapter.measures.participants(activity="A5-INT", status="declined")
    assert getattr(declined, "people", None) is not None and 0 < int(declined) < 5
    assert chapter.shown_number(declined) == "<5"


# --------------------------------------------------------------------------- formula injection


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_that_could_start_a_formula_is_quoted(start):
    frame = pd.DataFrame({"finding": [f'{start}HYPERLINK("http://x")'], "n": [1]})
    rows = list(csv.reader(io.StringIO(tables.csv_text(frame))))
    assert rows[1] == [f'\'{start}HYPERLINK("http://x")', "1"]


def test_a_download_carries_the_neutralised_csv_and_a_safe_file_name():
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["@SUM(1+1)", "-2+3"]})
    bundle = tables.downloadable_table(frame, 'x"><img src=x>', "caption").data
    payload = re.search(r"base64,([A-Za-z0-9+/=]+)", bundle).group(1)
    text = base64.b64decode(payload).decode("utf-8")
    assert list(csv.reader(io.StringIO(text))) == [
        ["'=cmd|' /C calc'!A0"],
        ["'@SUM(1+1)"],
        ["'-2+3"],
    ]
    assert 'download="x---img-src-x-.csv"' in bundle


# --------------------------------------------------------------------------- atomic writes


def test_an_atomic_write_onto_a_folder_is_refused_and_writes_nothing(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError) as error:
        write_atomically(tmp_path / "out", b"x")
    assert str(error.value) == f"[Errno 21] is a folder, not a file: '{tmp_path / 'out'}'"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "codes.csv"
    target.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["codes.csv"]


def test_codebook_into_a_folder_says_so_in_one_line(tmp_path, capsys):
    assert main(["codebook", "A2-INT", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"compendium: codebook: {tmp_path}: nothing written: is a folder, not a file\n"
    )


def test_codebook_into_a_missing_folder_says_so_in_one_line(tmp_path, capsys):
    out = tmp_path / "missing" / "A2.qdc"
    assert main(["codebook", "A2-INT", "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"compendium: codebook: {out}: nothing written: No such file or directory\n"
    )


def test_a_killed_schema_rewrite_leaves_the_old_descriptor(package_copy, monkeypatch):
    from compendium.build import scaffold

    before = (package_copy / "datapackage.json").read_bytes()

    def killed(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        scaffold.write_package_descriptor(package_copy)
    assert (package_copy / "datapackage.json").read_bytes() == before
    assert not [p for p in package_copy.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- links, resources


def test_a_symlinked_package_folder_is_refused(tmp_path):
    (tmp_path / "link").symlink_to(paths.DEFAULT_DATA_DIR)
    (problem,) = validate_package(tmp_path / "link")
    assert problem.message == "is a symbolic link; give the package folder itself"


@pytest.mark.parametrize("path", ["../outside.csv", "/etc/passwd", "https://example.org/a.csv"])
def test_a_resource_path_out_of_the_package_is_refused(package_copy, path):
    descriptor = package_copy / "datapackage.json"
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    package["resources"][0]["path"] = path
    descriptor.write_text(json.dumps(package), encoding="utf-8")
    (problem,) = validate_package(package_copy)
    assert problem.message == f"resource 'activities' must have path 'activities.csv', not '{path}'"


def test_a_symlinked_csv_into_a_secret_never_prints_the_secret(package_copy, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is swordfish\n", encoding="utf-8")
    (package_copy / "coders.csv").unlink()
    (package_copy / "coders.csv").symlink_to(secret)
    problems = validate_package(package_copy)
    assert not any("swordfish" in str(p) for p in problems)
    assert [p.message for p in problems][:1] == [
        "is a symbolic link; the package must hold its files itself"
    ]


# --------------------------------------------------------------------------- one line, never a traceback


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=paths.ROOT, timeout=300
    )


def test_no_command_is_a_usage_error():
    run = _run("compendium")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        "compendium: usage: the following arguments are required: command"
    )


def test_an_unknown_option_is_a_usage_error():
    run = _run("compendium", "validate", "--bogus")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == ("compendium: usage: unrecognized arguments: --bogus")


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import compendium.cli as cli

    def broken(args):
        raise RuntimeError("the disk went away\nsecond line")

    monkeypatch.setattr(cli, "_validate", broken)
    assert main(["validate"]) == 1
    assert capsys.readouterr().err == (
        "compendium: validate: the disk went away second line (RuntimeError; --debug shows where)\n"
    )
    with pytest.raises(RuntimeError, match="the disk went away"):
        main(["--debug", "validate"])
    with pytest.raises(RuntimeError, match="the disk went away"):
        main(["validate", "--debug"])


def test_an_interrupted_command_says_so(monkeypatch, capsys):
    import compendium.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_validate", interrupted)
    assert main(["validate"]) == 130
    assert capsys.readouterr().err == "compendium: validate: interrupted\n"


def test_pdf_without_a_built_book_is_one_line(tmp_path):
    run = _run("compendium.build.pdf", "--html", str(tmp_path))
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == f"compendium: pdf: no built book in {tmp_path}: run `make book` first\n"


def test_execution_with_a_missing_table_of_contents_is_one_line(tmp_path):
    (tmp_path / "_config.yml").write_text("execute:\n  execute_notebooks: cache\n", "utf-8")
    run = _run("compendium.build.execution", "--root", str(tmp_path), "--toc", "nope.yml")
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == (
        f"compendium: execution: {tmp_path / 'nope.yml'}: No such file or directory "
        "(FileNotFoundError; --debug shows where)\n"
    )


def test_verification_with_an_unknown_command_is_a_usage_error():
    run = _run("compendium.build.verification", "bless")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        "compendium: verification: usage: argument command: invalid choice: 'bless' "
        "(choose from 'accept', 'verify')"
    )


def test_codebook_of_an_unknown_analysis_is_one_line(capsys):
    assert main(["codebook", "NOPE"]) == 1
    assert (
        capsys.readouterr().err
        == "compendium: codebook: nothing written: no codes belong to 'NOPE'\n"
    )


def test_reproduce_on_a_file_is_located(tmp_path, capsys):
    target = tmp_path / "file.csv"
    target.write_text("a\n", encoding="utf-8")
    assert main(["reproduce", str(target)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{target}: is not a folder; expected a data package (study.yaml, datapackage.json, CSV files)",
        f"compendium: reproduce: {target}: not a valid data package",
    ]


# --------------------------------------------------------------------------- malformed descriptors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping of keys (compendium, id, title, ...)"),
        ("id: [unclosed\n", None),
        ("\xff\xfe", None),
    ],
    ids=["a list", "broken YAML", "not UTF-8"],
)
def test_a_malformed_study_descriptor_is_one_located_problem(package_copy, text, message):
    (package_copy / "study.yaml").write_bytes(text.encode("latin-1"))
    problems = validate_package(package_copy)
    assert len(problems) == 1 and problems[0].path.endswith("study.yaml")
    if message is not None:
        assert problems[0].message == message


def test_a_negative_threshold_in_the_descriptor_is_located(package_copy):
    _replace(package_copy / "study.yaml", "small_cell_threshold: 0", "small_cell_threshold: -3")
    (problem,) = validate_package(package_copy)
    assert problem.line == 183 and problem.message.startswith("-3 is less than the minimum of 0")


# --------------------------------------------------------------------------- huge inputs


def test_files_are_hashed_in_chunks_never_read_whole(tmp_path, monkeypatch):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (3 * HASH_CHUNK + 5))
    sizes = []
    real_open = open

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, size=-1):
            sizes.append(size)
            return self.handle.read(size)

    monkeypatch.setattr("builtins.open", lambda path, mode="r", *a, **k: Spy(real_open(path, mode)))
    digest = file_sha256(big)
    monkeypatch.undo()
    assert digest == hashlib.sha256(big.read_bytes()).hexdigest()
    assert len(sizes) == 5 and all(s == HASH_CHUNK for s in sizes)


def test_a_long_problem_list_is_capped_on_the_command_line(monkeypatch, capsys):
    import compendium.cli as cli
    from compendium.contract.problems import Problem

    many = [Problem("coders.csv", i + 2, "role", "'x' is not a role") for i in range(120)]
    monkeypatch.setattr(cli, "validate_package", lambda data_dir: many)
    assert main(["validate", "somewhere"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 52
    assert lines[0] == "coders.csv:2: column 'role': 'x' is not a role"
    assert lines[-2:] == ["... and 70 more", "compendium: validate: somewhere: 120 problems"]


# --------------------------------------------------------------------------- figures (PNG: checked where drawn)


@pytest.fixture
def pilot(monkeypatch):
    from compendium.presentation.chapter import Chapter

    monkeypatch.setenv(disclosure.ENV_VAR, "5")
    chapter = Chapter.for_stage("5")
    trial = chapter.rows("participants").merge(chapter.rows("attendance"), on="participant_id")
    return chapter, trial


def test_no_bar_of_sessions_attended_is_small_or_the_only_one_missing(pilot):
    from compendium.presentation import figures

    chapter, trial = pilot
    figure = figures.sessions_attended(chapter, trial).figure
    heights = [p.get_height() for p in figure.axes[0].patches]
    drawn = [h for h in heights if h == h]  # a hidden bar is NaN: not drawn
    assert all(h == 0 or h >= 5 for h in drawn)
    assert len(heights) - len(drawn) != 1


def test_the_flow_diagram_hides_what_the_flow_table_hides(pilot):
    from compendium.presentation import figures, sections

    chapter, trial = pilot
    flow = sections.participant_flow(chapter, trial)
    rows, boxes = sections.flow_hidden(chapter, flow)
    assert any(rows)
    parts = sections.flow_boxes(chapter, flow)
    # The diagram shows every row but the analysed ones (their box's total stands for them),
    # and every box with people in it.
    analysed = {i for (_, box), own in parts.items() if box == "analysed" for i in own}
    expected = sum(h for i, h in enumerate(rows) if i not in analysed)
    expected += sum(h for key, h in boxes.items() if parts[key])
    text = re.sub(r"<[^>]+>", " ", figures.trial_flow(chapter, flow).data)
    numbers = [int(n) for n in re.findall(r"n = (\d+)", text)]
    assert all(n == 0 or n >= 5 for n in numbers)
    assert text.count("n = &lt;5") == expected > 0


def test_a_theme_by_comparison_row_never_hides_one_cell_alone(monkeypatch):
    # the fictional example study compares levels of study; a theme's groups add up to its
    # people, which its theme table shows
    from compendium.presentation import sections
    from compendium.presentation.chapter import Chapter

    monkeypatch.setenv("COMPENDIUM_DATA", str(paths.ROOT / "examples" / "restwell" / "data"))
    monkeypatch.setenv(disclosure.ENV_VAR, "7")
    chapter = Chapter.for_stage("3")
    shown = sections.themes_by_comparison(chapter, "S3-TA", chapter.descriptor.comparison).data
    assert list(shown.columns) == ["undergraduate (n = <7)", "postgraduate (n = 10)"]
    for _, row in shown.iterrows():
        hidden = [v == "<7" for v in row]
        assert sum(hidden) != 1 and all(v == "<7" or v == 0 or v >= 7 for v in row)
    assert (shown == "<7").any(axis=None)
