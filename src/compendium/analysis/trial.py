"""Trial flow and attendance, from ``participants`` and the trial module's ``attendance``.

The flow follows a trial's recruits from recruitment, through the arms they were allocated
to, to what happened to each at follow-up (their participation status), in the order the
study declares arms and statuses. Attendance is what each person offered the intervention
attended, and how they described it.
"""

from __future__ import annotations

import pandas as pd

from compendium.contract.descriptor import Descriptor


def trial_people(
    participants: pd.DataFrame, attendance: pd.DataFrame, activity_ids: list[str]
) -> pd.DataFrame:
    """Return the participants of the given activities who have an attendance record, joined to it."""
    own = participants[participants["activity_id"].isin(activity_ids)]
    return own.merge(attendance, on="participant_id", how="inner")


def participant_flow(people: pd.DataFrame, descriptor: Descriptor) -> pd.DataFrame:
    """Return the flow of a trial's recruits: recruited, then each arm, then each status within arm.

    Parameters
    ----------
    people
        :func:`trial_people` rows: participants with their ``arm`` (empty in a single-arm
        study) and ``status``.
    descriptor
        The study descriptor, for the order and labels of arms and statuses.

    Returns
    -------
    pandas.DataFrame
        Columns ``step`` (``recruited``, ``allocated``, ``followed up``), ``arm`` and ``status``
        (ids, NA where they do not apply), ``label`` and ``participants``.
    """
    arms = [
        a
        for a in (descriptor.trial.arms if descriptor.trial else ())
        if (people["arm"] == a.id).any()
    ]
    rows = [("recruited", pd.NA, pd.NA, "Recruited", len(people))]
    for arm in arms:
        rows.append(
            (
                "allocated",
                arm.id,
                pd.NA,
                f"Allocated to {arm.label.lower()}",
                int((people["arm"] == arm.id).sum()),
            )
        )
    groups = [(a.id, a.label) for a in arms] or [(pd.NA, None)]
    for arm_id, arm_label in groups:
        own = people if arm_label is None else people[people["arm"] == arm_id]
        for status in descriptor.statuses:
            n = int((own["status"] == status.id).sum())
            if n:
                where = f"{arm_label}: " if arm_label else ""
                rows.append(("followed up", arm_id, status.id, f"{where}{status.label.lower()}", n))
    return pd.DataFrame(rows, columns=["step", "arm", "status", "label", "participants"])


def attendance_patterns(people: pd.DataFrame) -> pd.Series:
    """Return how many people gave each attendance pattern, most common first."""
    patterns = people["attendance_pattern"].dropna()
    return patterns.value_counts().rename("participants").rename_axis("attendance pattern")
