"""Inter-coder agreement on double-coded segments: Cohen's kappa and Krippendorff's alpha.

A second coder codes a subset of segments again. For each main theme (a code with no parent)
of an analysis, each coder's judgement on a segment is binary: was the segment coded at the
theme or anywhere beneath it (the NVivo rule of :mod:`compendium.themes`)? Agreement is
measured on those judgements, theme by theme and pooled over all themes, with:

- Krippendorff's alpha at the nominal level, from the ``krippendorff`` package;
- Cohen's kappa, from ``sklearn.metrics.cohen_kappa_score`` (scikit-learn: maintained,
  widely cited, and it takes the two coders' label vectors as they are; statsmodels'
  version wants a contingency table built first and brings as heavy a stack, SciPy).

Inputs are plain DataFrames: the package's ``codes``, ``segments`` (whose ``coder_id`` is
the first coder) and ``codings`` (the first coder's codes), and a ``double_codings`` table
with columns ``segment_id``, ``coder_id`` and ``code_id``: the second coder's codes of the
double-coded segments. A segment is double-coded when it has at least one row there; that
shape cannot say "looked at, coded at nothing".

``krippendorff`` and scikit-learn are imported by :func:`agreement_figures`, the one function
that uses them, so a chapter that imports this module (or the book's helpers) without
computing agreement does not pay for loading scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from compendium.analysis.themes import ancestor_pairs

#: The label of the pooled row in :func:`agreement_table`.
OVERALL = "All themes (pooled)"
NO_DOUBLE_CODING = "no double-coded segments in this analysis"
NEITHER_CODER = "neither coder used this theme on the double-coded segments"
BOTH_CODERS_ALWAYS = "both coders coded every double-coded segment here"
UNDEFINED = "; kappa and alpha are undefined (no variation to agree on)"


def theme_ratings(
    codes: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    double_codings: pd.DataFrame,
) -> pd.DataFrame:
    """Return each coder's binary judgement per double-coded segment and main theme.

    Parameters
    ----------
    codes
        The ``codes`` table (``code_id``, ``activity_id``, ``parent_id``, ``position``).
    segments
        The ``segments`` table; ``coder_id`` is the segment's first coder.
    codings
        The first coders' codings (``segment_id``, ``code_id``).
    double_codings
        The second coders' codings (``segment_id``, ``coder_id``, ``code_id``).

    Returns
    -------
    pandas.DataFrame
        One row per double-coded segment and main theme of the segment's analysis, in
        codebook and segment order: ``activity_id``, ``theme_id``, ``segment_id``,
        ``first_coder``, ``second_coder``, and ``first`` and ``second``, 1 when that coder
        coded the segment at the theme or beneath it, else 0.

    Raises
    ------
    ValueError
        When a second coding names a code or segment the tables do not have, a segment's
        second coder is its first coder, a segment has more than one second coder, or a
        segment's codes span two analyses.
    """
    known_codes = set(codes["code_id"])
    unknown = sorted(set(double_codings["code_id"]) - known_codes)
    if unknown:
        raise ValueError(f"double_codings: codes not in the codebook: {', '.join(unknown)}")
    first_coder = segments.set_index("segment_id")["coder_id"]
    missing = sorted(set(double_codings["segment_id"]) - set(first_coder.index))
    if missing:
        raise ValueError(f"double_codings: segments not in segments: {', '.join(missing)}")
    second_coders = double_codings.groupby("segment_id", sort=False)["coder_id"].unique()
    several = [s for s, coders in second_coders.items() if len(coders) > 1]
    if several:
        raise ValueError(f"double_codings: more than one second coder for {', '.join(several)}")
    second_coder = second_coders.str[0]
    same = [s for s, coder in second_coder.items() if coder == first_coder[s]]
    if same:
        raise ValueError(f"double_codings: second coder is the first coder for {', '.join(same)}")

    parent_of = codes.set_index("code_id")["parent_id"]
    pairs = ancestor_pairs(codes)
    # A code's main theme is its one ancestor without a parent.
    theme_of = pairs[parent_of.reindex(pairs["ancestor_id"]).isna().to_numpy()]
    theme_of = theme_of.set_index("code_id")["ancestor_id"]
    activity_of = codes.set_index("code_id")["activity_id"]
    double = pd.Index(segments["segment_id"][segments["segment_id"].isin(second_coder.index)])
    first = codings[codings["segment_id"].isin(double) & codings["code_id"].isin(known_codes)]
    judged = pd.concat(
        [
            pd.DataFrame(
                {"segment_id": first["segment_id"], "code_id": first["code_id"], "who": "first"}
            ),
            pd.DataFrame(
                {
                    "segment_id": double_codings["segment_id"],
                    "code_id": double_codings["code_id"],
                    "who": "second",
                }
            ),
        ],
        ignore_index=True,
    )
    judged["theme_id"] = theme_of.reindex(judged["code_id"]).to_numpy()
    judged["activity_id"] = activity_of.reindex(judged["code_id"]).to_numpy()
    spans = judged.groupby("segment_id")["activity_id"].nunique()
    if (spans > 1).any():
        raise ValueError(
            "a double-coded segment is coded in two analyses: " + ", ".join(spans.index[spans > 1])
        )
    segment_activity = judged.drop_duplicates("segment_id").set_index("segment_id")["activity_id"]
    coded = set(zip(judged["segment_id"], judged["theme_id"], judged["who"], strict=True))

    main_themes = codes[codes["parent_id"].isna()].sort_values("position", kind="stable")
    rows = []
    for segment_id in double:
        activity_id = segment_activity[segment_id]
        for theme_id in main_themes.loc[main_themes["activity_id"] == activity_id, "code_id"]:
            rows.append(
                (
                    activity_id,
                    theme_id,
                    segment_id,
                    first_coder[segment_id],
                    second_coder[segment_id],
                    int((segment_id, theme_id, "first") in coded),
                    int((segment_id, theme_id, "second") in coded),
                )
            )
    columns = ["activity_id", "theme_id", "segment_id", "first_coder", "second_coder"]
    ratings = pd.DataFrame(rows, columns=[*columns, "first", "second"])
    ratings[["first", "second"]] = ratings[["first", "second"]].astype("int64")
    return ratings


def agreement_figures(first: np.ndarray, second: np.ndarray) -> dict:
    """Return kappa, alpha and observed agreement of two binary rating vectors.

    Parameters
    ----------
    first, second
        0/1 judgements of the same units by the two coders.

    Returns
    -------
    dict
        ``observed`` (the share of units on which they agree), ``kappa`` (Cohen),
        ``alpha`` (Krippendorff, nominal) and ``reason``: empty when the figures are
        defined, else why they are NaN. Kappa and alpha are undefined when there are no
        units, or when both coders gave every unit the same single value: expected
        disagreement is then zero, and the ratio 0/0.
    """
    first, second = np.asarray(first, dtype=int), np.asarray(second, dtype=int)
    if len(first) == 0:
        return {"observed": np.nan, "kappa": np.nan, "alpha": np.nan, "reason": NO_DOUBLE_CODING}
    observed = float(np.mean(first == second))
    values = set(first) | set(second)
    if len(values) == 1:
        reason = (NEITHER_CODER if values == {0} else BOTH_CODERS_ALWAYS) + UNDEFINED
        return {"observed": observed, "kappa": np.nan, "alpha": np.nan, "reason": reason}
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    kappa = float(cohen_kappa_score(first, second, labels=[0, 1]))
    alpha = float(
        krippendorff.alpha(
            reliability_data=np.vstack([first, second]),
            level_of_measurement="nominal",
            value_domain=[0, 1],
        )
    )
    return {"observed": observed, "kappa": kappa, "alpha": alpha, "reason": ""}


def agreement_table(
    codes: pd.DataFrame,
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    double_codings: pd.DataFrame,
) -> pd.DataFrame:
    """Return inter-coder agreement per analysis, for each main theme and overall.

    For a theme, the units are the analysis's double-coded segments, and each coder's value
    is whether they coded the segment at the theme or beneath it (:func:`theme_ratings`).
    **Overall** pools every (theme, segment) pair of the analysis into one set of units, so
    each decision "this segment belongs under this theme, or not" counts once; it is not the
    mean of the per-theme figures, and themes used rarely weigh as much as any other.

    Parameters
    ----------
    codes, segments, codings, double_codings
        As for :func:`theme_ratings`.

    Returns
    -------
    pandas.DataFrame
        For every analysis with codes, one row per main theme (codebook order) then one
        ``OVERALL`` row: ``activity_id``, ``theme_id`` (NA overall), ``theme``,
        ``n_segments`` (double-coded segments), ``n_units`` (judgements compared:
        segments, or segments times themes overall), ``first_coded`` and ``second_coded``
        (units each coder marked 1), ``observed`` (share of units agreed on), ``kappa``,
        ``alpha`` and ``reason``, empty unless kappa and alpha are NaN, then saying why
        (no double-coded segments; a theme neither coder used; both coders marking every
        unit).
    """
    ratings = theme_ratings(codes, segments, codings, double_codings)
    themes = codes[codes["parent_id"].isna()].sort_values("position", kind="stable")
    rows = []
    for activity_id in pd.unique(codes["activity_id"]):
        own = ratings[ratings["activity_id"] == activity_id]
        n_segments = own["segment_id"].nunique()
        parts = [
            (theme.code_id, theme.name, own[own["theme_id"] == theme.code_id])
            for theme in themes[themes["activity_id"] == activity_id].itertuples()
        ]
        for theme_id, name, units in [*parts, (pd.NA, OVERALL, own)]:
            rows.append(
                {
                    "activity_id": activity_id,
                    "theme_id": theme_id,
                    "theme": name,
                    "n_segments": n_segments,
                    "n_units": len(units),
                    "first_coded": int(units["first"].sum()),
                    "second_coded": int(units["second"].sum()),
                    **agreement_figures(units["first"].to_numpy(), units["second"].to_numpy()),
                }
            )
    return pd.DataFrame(rows)
