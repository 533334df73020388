"""Participant characteristics: the equivalents of the paper's Additional file 1.

Each stage's table counts the people who took part (interviewed or in a focus group), per
stakeholder role, in every category of each characteristic, with percentages of the
role's total and a "Missing" row where a value was not recorded. Labels and category
order come from the data package's Table Schema, not from this module. Counts pass through
:mod:`compendium.analysis.disclosure` before they are shown.

Every characteristic in the package is synthetic: the paper's Additional file 1 was not
recovered.
"""

from __future__ import annotations

import html

import pandas as pd

from compendium.analysis.disclosure import small_cell_threshold, suppress_small_counts
from compendium.contract.loading import Study, canonical_descriptor
from compendium.presentation.summaries import style_table

CHARACTERISTICS = (
    "age_band",
    "gender",
    "ethnicity",
    "diagnosis_group",
    "crt_use",
    "staff_profession",
)
# People who contributed data; "declined" and "not_invited" did not.
TOOK_PART = ("interviewed", "interviewed_not_analysed", "focus_group")
MISSING = "Missing"


def participant_fields() -> dict[str, dict]:
    """Return the ``participants`` Table Schema fields, keyed by column name."""
    (resource,) = [r for r in canonical_descriptor()["resources"] if r["name"] == "participants"]
    return {f["name"]: f for f in resource["schema"]["fields"]}


def field_label(field: dict) -> str:
    """Return a display label from a schema field's description (its first clause)."""
    return field["description"].split(";")[0].strip().rstrip(".")


def role_label(role: str) -> str:
    """Return a stakeholder role as words, e.g. ``peer_support_worker`` -> ``Peer support worker``."""
    return role.replace("_", " ").capitalize()


def stage_activities(study: Study, stage: int) -> list[str]:
    """Return the analyses (activities with a codebook) of ``stage``, in activity order."""
    activities = study.activities
    own = activities.loc[activities["stage"] == stage, "activity_id"]
    coded = set(study.codes["activity_id"])
    return [a for a in own if a in coded]


def stage_sample(study: Study, stage: int) -> pd.DataFrame:
    """Return the participants who took part in ``stage``'s analyses.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    stage : int
        Stage number.

    Returns
    -------
    pandas.DataFrame
        Rows of ``participants`` whose activity is one of the stage's analyses and whose
        status is one of :data:`TOOK_PART`.
    """
    people = study.participants
    mask = people["activity_id"].isin(stage_activities(study, stage)) & people["status"].isin(
        TOOK_PART
    )
    return people[mask]


def characteristics_table(
    people: pd.DataFrame, by: str = "role", threshold: int | None = None
) -> pd.DataFrame:
    """Return counts and percentages of each characteristic, per group of ``by``.

    Parameters
    ----------
    people : pandas.DataFrame
        Rows of ``participants``.
    by : str
        Column that splits the columns of the table (default: stakeholder role).
    threshold : int, optional
        Small-cell threshold; by default :func:`compendium.analysis.disclosure.small_cell_threshold`.

    Returns
    -------
    pandas.DataFrame
        Rows indexed by (characteristic, category), categories in schema order, plus a
        ``Missing`` row where any value of an applicable group is missing. Columns are
        (group, ``n``) and (group, ``%``), the group labelled with its size. A
        characteristic not recorded at all for a group (e.g. diagnosis for staff) is NA
        for that group. Characteristics recorded for nobody are left out. Small counts are
        replaced by ``"<threshold"``.
    """
    if threshold is None:
        threshold = small_cell_threshold()
    fields = participant_fields()
    role_order = fields[by]["constraints"].get("enum") if by in fields else None
    present = list(people[by].dropna().unique())
    groups = [g for g in role_order if g in present] if role_order else sorted(present)
    blocks = []
    for column in CHARACTERISTICS:
        values = people[column]
        if values.isna().all():
            continue
        categories = list(fields[column]["constraints"]["enum"])
        frame = pd.DataFrame(index=categories + [MISSING])
        for group in groups:
            own = values[people[by] == group]
            if own.isna().all():
                frame[group] = pd.NA
                continue
            counts = own.value_counts().reindex(categories, fill_value=0)
            frame[group] = list(counts) + [int(own.isna().sum())]
        applicable = frame.notna().any(axis=0)
        if not (frame.loc[MISSING, applicable.index[applicable]].fillna(0) > 0).any():
            frame = frame.drop(index=MISSING)
        frame.index = pd.MultiIndex.from_product(
            [[field_label(fields[column])], frame.index], names=["Characteristic", "Category"]
        )
        blocks.append(frame)
    counts = pd.concat(blocks)
    sizes = people[by].value_counts()
    columns = {}
    for group in groups:
        label = f"{role_label(group)} (n = {int(sizes[group])})"
        n = counts[group].astype("Int64")
        columns[(label, "n")] = n
        columns[(label, "%")] = (100 * n / int(sizes[group])).astype("Float64").round(1)
    table = pd.DataFrame(columns)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["Group", ""])
    n_cols = [c for c in table.columns if c[1] == "n"]
    pct_cols = [c for c in table.columns if c[1] == "%"]
    return suppress_small_counts(table, n_cols, pct_cols, threshold)


def characteristics_styler(table: pd.DataFrame, uuid: str, caption: str):
    """Return a Styler for :func:`characteristics_table`: whole percentages, "–" where not recorded.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`characteristics_table`.
    uuid : str
        Stable id for the HTML table, so built outputs do not change between runs.
    caption : str
        Table caption.
    """

    def shown(value: object, percent: bool) -> str:
        if isinstance(value, str):
            return html.escape(value)
        if pd.isna(value):
            return "–"
        return f"{value:.0f}" if percent else f"{int(value)}"

    styler = style_table(table, uuid, caption, hide_index=False)
    for column in table.columns:
        styler = styler.format(lambda v, p=column[1] == "%": shown(v, p), subset=[column])
    return styler


def participant_flow(study: Study, activity_id: str) -> pd.DataFrame:
    """Return the flow of a trial's recruits: recruited, by arm, then by status within arm.

    Parameters
    ----------
    study : compendium.contract.loading.Study
        The loaded package.
    activity_id : str
        The trial's interview activity (its participants carry ``arm`` and ``status``).

    Returns
    -------
    pandas.DataFrame
        Columns ``step``, ``arm``, ``status``, ``participants``: one ``recruited`` row, a
        ``randomised`` row per arm, and an ``outcome`` row per (arm, status), in schema order.
    """
    fields = participant_fields()
    people = study.participants[study.participants["activity_id"] == activity_id]
    rows = [("recruited", pd.NA, pd.NA, len(people))]
    arms = [a for a in fields["arm"]["constraints"]["enum"] if (people["arm"] == a).any()]
    statuses = fields["status"]["constraints"]["enum"]
    for arm in arms:
        rows.append(("randomised", arm, pd.NA, int((people["arm"] == arm).sum())))
    for arm in arms:
        own = people[people["arm"] == arm]
        for status in statuses:
            n = int((own["status"] == status).sum())
            if n:
                rows.append(("outcome", arm, status, n))
    flow = pd.DataFrame(rows, columns=["step", "arm", "status", "participants"])
    return flow.astype({"arm": "str", "status": "str", "participants": "int64"})


def attendance(study: Study, activity_id: str, status: str = "interviewed") -> pd.DataFrame:
    """Return each ``status`` participant's attendance pattern and number of sessions attended.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``attendance_pattern``, ``sessions_attended`` (NA when unknown).
    """
    people = study.participants
    own = people[(people["activity_id"] == activity_id) & (people["status"] == status)]
    return own[["label", "attendance_pattern", "sessions_attended"]].reset_index(drop=True)


def attendance_patterns(study: Study, activity_id: str, status: str = "interviewed") -> pd.Series:
    """Return how many ``status`` participants gave each attendance pattern, most common first."""
    patterns = attendance(study, activity_id, status)["attendance_pattern"]
    return patterns.value_counts().rename("participants").rename_axis("attendance pattern")


def stage_characteristics(study: Study, stage: int, threshold: int | None = None):
    """Return the styled characteristics table of a stage's participants, by stakeholder role.

    The caption names the stage's analyses, says the values are synthetic and states the
    small-cell rule in force; the HTML id is stable (``characteristics-stage<N>``).
    """
    if threshold is None:
        threshold = small_cell_threshold()
    activities = study.activities.set_index("activity_id")["label"]
    names = "; ".join(activities[a] for a in stage_activities(study, stage))
    rule = (
        f"counts from 1 to {threshold - 1} are shown as <{threshold}"
        if threshold > 1
        else f"no count is suppressed (small-cell threshold {threshold})"
    )
    caption = (
        f"Stage {stage} participants ({names}): n and % of each group. All values are "
        f"synthetic. – means not recorded for that group; {rule}."
    )
    table = characteristics_table(stage_sample(study, stage), threshold=threshold)
    return characteristics_styler(table, f"characteristics-stage{stage}", caption)
