"""The book's figures: their data equals the library's counts, and they are labelled."""

from __future__ import annotations

import matplotlib.pyplot as plt
import plotly.express as px
import plotly.graph_objects as go
import pytest

from compendium.analysis import characteristics as ch
from compendium.presentation import figures as fg
from compendium.presentation import summaries as sm


def bar_widths(ax) -> list[float]:
    return [round(p.get_width()) for p in ax.patches if p.get_width() > 0]


def test_theme_counts_figure_draws_the_main_theme_counts(study):
    fig = fg.theme_counts_figure(study, "A2-INT")
    main = sm.theme_summary(study, "A2-INT", max_depth=0)
    left, right = fig.axes[:2]
    assert sorted(bar_widths(left)) == sorted(main["sources"].tolist())
    assert sorted(bar_widths(right)) == sorted(main["references"].tolist())
    assert left.get_xlabel() == "Sources (participants or groups)"
    assert right.get_xlabel() == "References (coded segments)"
    assert left.get_ylabel() == "Main theme"
    assert fig.get_suptitle() == "CRT service-user interviews: main themes"
    plt.close(fig)


def test_sessions_figure_counts_known_attendance(study):
    attendance = ch.attendance(study, "A5-INT")
    fig = fg.sessions_figure(attendance, 10, "Sessions")
    (ax,) = fig.axes
    heights = [round(p.get_height()) for p in ax.patches]
    assert len(heights) == 11
    assert heights[10] == 7
    assert sum(heights) == int(attendance["sessions_attended"].notna().sum())
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "Sessions attended",
        "Participants interviewed",
        "Sessions",
    )
    plt.close(fig)


def test_concept_programmes_figure(study):
    counts = sm.concept_programme_counts(study)
    fig = fg.concept_programmes_figure(counts, "Concepts")
    (ax,) = fig.axes
    assert sorted(bar_widths(ax)) == sorted(c for c in counts["programmes"] if c > 0)
    assert ax.get_xlabel().startswith("Reviewed programmes containing the concept (of 19)")
    assert ax.get_ylabel() == "Concept"
    plt.close(fig)


def test_stage_decision_figure_shows_every_stage_and_decision(study):
    stages = sm.stage_decisions(study)
    fig = fg.stage_decision_figure(stages, "Stages and decisions")
    text = " ".join(t.get_text().replace("\n", " ") for t in fig.axes[0].texts)
    for row in stages.itertuples():
        assert f"Stage {row.stage} {row.name}" in text
    assert fig.get_suptitle() == "Stages and decisions"
    plt.close(fig)


def test_sunburst_carries_every_code_with_its_counts(study):
    fig = fg.codebook_sunburst(study, "A3-FG")
    summary = sm.theme_summary(study, "A3-FG")
    (trace,) = fig.data
    assert list(trace.ids) == summary["code_id"].tolist()
    assert [row[2] for row in trace.customdata] == summary["references"].tolist()
    parents = dict(zip(trace.ids, trace.parents, strict=True))
    assert parents["A3-1"] == "" and parents["A3-1.1.1"] == "A3-1.1"
    assert fig.layout.title.text == "Stakeholder focus groups: codebook"
    assert set(trace.marker.colors) <= set(px.colors.qualitative.Safe)


def test_heatmap_shows_the_table(study):
    table = sm.theme_sources_by(study, "A3-FG")
    fig = fg.theme_heatmap(table, "Groups by theme", "Stakeholder type", "Groups")
    (trace,) = fig.data
    assert trace.z.tolist() == table.to_numpy().tolist()
    assert fig.layout.xaxis.title.text == "Stakeholder type"
    assert fig.layout.yaxis.title.text == "Main theme"
    assert fig.layout.title.text == "Groups by theme"


def test_sankey_flows_match_the_participant_flow(study):
    flow = ch.participant_flow(study, "A5-INT")
    fig = fg.flow_sankey(flow, "Flow")
    (trace,) = fig.data
    assert list(trace.link.value) == [21, 19, 18, 3, 19]
    assert trace.node.label[0] == "Recruited (40)"
    assert "Intervention: declined (3)" in trace.node.label


@pytest.mark.parametrize("kind", ["plotly", "matplotlib"])
def test_accessible_figure_has_alt_text_and_caption(study, kind):
    if kind == "plotly":
        figure = go.Figure(go.Bar(x=[1], y=[2]))
    else:
        figure = fg.sessions_figure(ch.attendance(study, "A5-INT"), 10, "Sessions")
    bundle = fg.AccessibleFigure(figure, alt="A & B", caption="Cap <1>")._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.startswith('<figure class="compendium-figure"')
    assert 'role="img"' not in html  # plotly's controls are focusable: no role="img" around them
    assert "<figcaption>Cap &lt;1&gt;</figcaption>" in html
    if kind == "plotly":
        assert html.startswith('<figure class="compendium-figure" aria-label="A &amp; B">')
        assert "Plotly.newPlot" in html and "<script src" not in html
        assert "application/vnd.plotly.v1+json" in bundle
    else:
        assert 'alt="A &amp; B"' in html and "data:image/png;base64," in html
        assert not plt.fignum_exists(figure.number)


def test_figures_hide_small_source_counts(study, monkeypatch):
    import math

    from compendium.presentation import figures, summaries

    monkeypatch.setenv("COMPENDIUM_SMALL_CELL", "6")
    sunburst = figures.codebook_sunburst(study, "A4-INT")
    hover = {row[0]: row[1] for row in sunburst.data[0].customdata}
    assert hover["Engagement barriers"] == "<6"  # 5 people
    assert hover["Programme impact"] == 9
    table = summaries.theme_sources_by(study, "A3-FG", "stakeholder_type")
    heat = figures.theme_heatmap(table, "t", "x", "sources")
    z = [v for row in heat.data[0].z for v in row]
    assert any(isinstance(v, float) and math.isnan(v) for v in z) == bool(
        ((table > 0) & (table < 6)).to_numpy().any()
    )
    bars = figures.theme_counts_figure(study, "A4-INT")
    widths = [p.get_width() for p in bars.axes[0].patches if not math.isnan(p.get_width())]
    assert 5 not in widths and 9 in widths


def test_mask_small_counts_leaves_data_alone_when_nothing_is_small():
    import pandas as pd

    from compendium.analysis.disclosure import mask_small_counts

    counts = pd.Series([7, 9, 0], dtype="int64")
    assert mask_small_counts(counts, 5) is counts
    masked = mask_small_counts(pd.Series([7, 3, 0]), 5)
    assert masked.isna().tolist() == [False, True, False]
