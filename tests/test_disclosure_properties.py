"""Property-based tests of disclosure control on random tables (hypothesis).

After suppression, no shown count of people is from 1 to k - 1, and no hidden one can be
worked out: neither by an attacker who enumerates every way the hidden cells could add up to
the group's n (one-way breakdowns), nor by one who subtracts the shown cells of a row or
column from its total, repeatedly, as hidden cells are recovered (crosstabs with margins).
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compendium.analysis.disclosure import (
    Sum,
    cells_to_hide,
    crosstab_cells_to_hide,
    protect_counts,
    recovered,
)

THRESHOLDS = st.sampled_from([3, 5, 7, 10])
COUNT = st.integers(min_value=0, max_value=15)


def _possible_values(counts: list[int], hidden: set[int]) -> dict[int, range]:
    """Every value each hidden cell can take, given the shown cells and the group's n.

    The attacker knows the shown cells, the total, and that hidden cells are whole numbers
    of at least 1 (at least 0 when a zero is among them: the book shows zeros) and at most
    what the shown ones leave, ``rest``. One hidden cell can be ``v`` exactly when the
    ``others`` can make up ``rest - v`` within those bounds. (Listing every filling, as an
    attacker by hand would, gives the same sets but grows as ``rest ** cells``: minutes for
    five cells.)
    """
    order = sorted(hidden)
    rest = sum(counts[i] for i in order)
    low = 1 if all(counts[i] for i in order) else 0
    others = len(order) - 1
    lowest, highest = max(low, rest - others * rest), rest - others * low
    return {i: range(lowest, highest + 1) for i in order}


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(COUNT, min_size=1, max_size=5), k=THRESHOLDS)
def test_a_breakdown_shows_no_small_count_and_hides_none_recoverably(counts, k):
    hidden = cells_to_hide(counts, k)
    shown = [c for i, c in enumerate(counts) if i not in hidden]
    assert all(c == 0 or c >= k for c in shown)
    assert {i for i, c in enumerate(counts) if 0 < c < k} <= hidden
    if hidden and len(counts) > 1:
        possible = _possible_values(counts, hidden)
        pinned = {i: v for i, v in possible.items() if len(v) == 1}
        # Once every cell is hidden, only the group's n is left to hide: the table that shows
        # n hides a small one (protect_counts), and no breakdown can do more.
        if len(hidden) < len(counts):
            assert not pinned, f"{counts} hiding {sorted(hidden)} leaves {pinned} recoverable"


def _peel(table: pd.DataFrame, hidden: pd.DataFrame, margins: str = "All") -> set:
    """Cells of a crosstab an attacker recovers by subtraction along rows and columns.

    A line whose hidden cells are one, or add up to as many as they are (each at least 1),
    gives them away; recovered cells count as shown, and the attacker goes on until stuck.
    """
    known = ~hidden
    found = set()
    inner_rows = [r for r in table.index if r != margins]
    inner_cols = [c for c in table.columns if c != margins]
    lines = [[(r, c) for c in inner_cols] + [(r, margins)] for r in table.index]
    lines += [[(r, c) for r in inner_rows] + [(margins, c)] for c in table.columns]
    progress = True
    while progress:
        progress = False
        for line in lines:
            *parts, total = line
            unknown = [cell for cell in line if not known.at[cell]]
            if not unknown:
                continue
            value = {cell: int(table.at[cell]) for cell in line}
            if len(unknown) == 1:
                found.add(unknown[0])
                known.at[unknown[0]] = True
                progress = True
            elif total in unknown:
                continue
            else:
                rest = value[total] - sum(value[c] for c in parts if known.at[c])
                if rest == len(unknown) and all(value[c] >= 1 for c in unknown):
                    found.update(unknown)
                    for cell in unknown:
                        known.at[cell] = True
                    progress = True
    return found


@st.composite
def crosstabs(draw):
    rows = draw(st.integers(min_value=2, max_value=4))
    cols = draw(st.integers(min_value=2, max_value=4))
    cells = draw(
        st.lists(st.lists(COUNT, min_size=cols, max_size=cols), min_size=rows, max_size=rows)
    )
    inner = pd.DataFrame(
        cells, index=[f"r{i}" for i in range(rows)], columns=[f"c{j}" for j in range(cols)]
    )
    table = inner.copy()
    table["All"] = inner.sum(axis=1)
    table.loc["All"] = table.sum(axis=0)
    return table


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(table=crosstabs(), k=THRESHOLDS)
def test_a_crosstab_with_margins_hides_no_cell_recoverably(table, k):
    hidden = crosstab_cells_to_hide(table, k)
    values = table.to_numpy().ravel().tolist()
    mask = hidden.to_numpy().ravel().tolist()
    assert all(m or v == 0 or v >= k for v, m in zip(values, mask, strict=True))
    assert all(m for v, m in zip(values, mask, strict=True) if 0 < v < k)
    if table.at["All", "All"] >= k:
        assert not _peel(table, hidden), f"\n{table}\nhiding\n{hidden}"
        # and no hidden cell is pinned by linear programming over all the relations at once
        rows, cols = list(table.index), list(table.columns)
        at = {(r, c): i * len(cols) + j for i, r in enumerate(rows) for j, c in enumerate(cols)}
        sums = [Sum(tuple(at[r, c] for c in cols[:-1]), total=at[r, "All"]) for r in rows]
        sums += [Sum(tuple(at[r, c] for r in rows[:-1]), total=at["All", c]) for c in cols]
        cells = {i for i, m in enumerate(mask) if m}
        assert not recovered(values, cells, sums)


@settings(max_examples=40, deadline=None)
@given(
    blocks=st.lists(st.lists(COUNT, min_size=2, max_size=4), min_size=1, max_size=3),
    k=THRESHOLDS,
)
def test_a_characteristics_column_adds_up_to_its_n_with_no_cell_recoverable(blocks, k):
    # one group; each characteristic's categories add up to the same n
    n = max(sum(b) for b in blocks)
    blocks = [b[:-1] + [b[-1] + n - sum(b)] for b in blocks]
    index = pd.MultiIndex.from_tuples(
        [(f"char{i}", f"cat{j}") for i, b in enumerate(blocks) for j in range(len(b))]
    )
    counts = [c for b in blocks for c in b]
    table = pd.DataFrame(
        {("g", "n"): counts, ("g", "%"): [100 * c / n if n else 0.0 for c in counts]}, index=index
    )
    shown = protect_counts(table, k, [n])
    column = shown[("g", "n")]
    if 0 < n < k:
        assert all(v == f"<{k}" for v in column if v != 0)
        return
    for i, block in enumerate(blocks):
        cells = list(column.loc[f"char{i}"])
        hidden = {j for j, v in enumerate(cells) if v == f"<{k}"}
        assert all(v == 0 or v >= k for v in cells if v != f"<{k}")
        if hidden:
            pinned = {j: v for j, v in _possible_values(block, hidden).items() if len(v) == 1}
            if len(hidden) < len(block):
                assert not pinned, f"{block} hiding {sorted(hidden)}: {pinned}"
