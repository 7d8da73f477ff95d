"""Which instances the report draws (qualitative maps, interaction matrices): the user's, or one per stratum.

The user names instances by id (``synfaith report RUN --examples ID,ID``, or ``report.examples``
in the run config); an id stands for every (model, dataset) whose rows hold it. Without a choice
the report takes one instance per stratum (synergistic, redundant, neutral — the split of
:mod:`synfaith.analysis.strata` by the modality dividend Δ): among the instances with results
from the most explainers, the one whose Δ is closest to its stratum's median Δ, a typical
instance rather than the most striking one. Runs without Δ get :data:`UNSTRATIFIED_EXAMPLES`
instances drawn with a fixed seed. Pure functions over result rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synfaith.analysis.rows import INSTANCE, NotComputable, require_values
from synfaith.analysis.strata import StratumRule, instance_strata

EXAMPLE_STRATA = ("synergistic", "redundant", "neutral")
UNSTRATIFIED_EXAMPLES = 3
EXAMPLE_SEED = 0


@dataclass(frozen=True)
class Example:
    """One instance the report draws.

    Attributes:
        model, dataset, instance_id: the instance's key in the rows.
        stratum: ``synergistic`` / ``redundant`` / ``neutral``, or ``unknown`` without Δ.
        delta: its modality dividend Δ (NaN when not computed).
        chosen_by: why it is shown (``"requested"``, ``"median Δ of its stratum"``, ``"seeded draw"``).
    """

    model: str
    dataset: str
    instance_id: str
    stratum: str
    delta: float
    chosen_by: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.dataset, self.instance_id)


def parse_example_ids(text: str | Sequence[str] | None, source: str = "--examples") -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` as a list of ids (``None`` when not given); ``ValueError`` for an empty list or a non-string id."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    if not all(isinstance(p, str) for p in parts):
        raise ValueError(f"{source} must be instance ids (strings), got {text!r}; e.g. {source} test-existence-synergy-00000")
    ids = [p.strip() for p in parts if p.strip()]
    if not ids:
        raise ValueError(f"{source} names no instance id; pass comma-separated ids, e.g. {source} test-existence-synergy-00000")
    return list(dict.fromkeys(ids))


def choose_examples(rows: pd.DataFrame, requested: Sequence[str] | None = None, rule: StratumRule = StratumRule(),
                    source: str = "--examples") -> list[Example]:
    """The instances to draw: every (model, dataset) holding a ``requested`` id, else one per stratum (module docstring).

    Raises:
        NotComputable: no row holds an F_syn value (nothing to draw).
        ValueError: a requested id is not in the run, or has no successful row (the message names it and ``source``).
    """
    ok = require_values(rows, "fsyn")
    strata = instance_strata(rows, rule).set_index(list(INSTANCE))
    if requested is not None:
        return [_example(key, strata, "requested", rule.column) for key in _requested_keys(rows, ok, requested, source)]
    counts = ok.groupby(list(INSTANCE))["explainer"].nunique()
    candidates = strata.loc[counts[counts == counts.max()].index]
    known = candidates[candidates["stratum"].isin(EXAMPLE_STRATA)]
    if known.empty:
        keys = sorted(candidates.index)
        draw = np.random.default_rng(EXAMPLE_SEED).choice(len(keys), min(UNSTRATIFIED_EXAMPLES, len(keys)), replace=False)
        return [_example(keys[i], strata, "seeded draw", rule.column) for i in sorted(draw)]
    chosen = []
    for stratum in EXAMPLE_STRATA:
        part = known[known["stratum"] == stratum]
        if part.empty:
            continue
        delta = part[rule.column].astype(float)
        distance = (delta - delta.median()).abs()
        best = min(part.index, key=lambda key: (distance[key], key))  # ties: the first key in sort order
        chosen.append(_example(best, strata, "median Δ of its stratum", rule.column))
    return chosen


def _requested_keys(rows: pd.DataFrame, ok: pd.DataFrame, requested: Sequence[str], source: str) -> list[tuple[str, str, str]]:
    keys = []
    known_ids = rows["instance_id"].dropna().astype(str)
    for instance_id in requested:
        if not (known_ids == instance_id).any():
            sample = ", ".join(sorted(known_ids.unique())[:3])
            raise ValueError(f"{source}: no instance {instance_id!r} in this run; its ids look like {sample}")
        matches = ok[ok["instance_id"] == instance_id].drop_duplicates(list(INSTANCE))
        if matches.empty:
            raise ValueError(f"{source}: instance {instance_id!r} has no successful row with F_syn (every row of it failed; see Failures); "
                             "choose another id")
        keys.extend(tuple(k) for k in matches[list(INSTANCE)].itertuples(index=False))
    return keys


def _example(key: tuple[str, str, str], strata: pd.DataFrame, chosen_by: str, column: str) -> Example:
    line = strata.loc[key]
    return Example(*key, stratum=str(line["stratum"]), delta=float(line[column]), chosen_by=chosen_by)


def resolve_examples(rows: pd.DataFrame, examples: str | Sequence[str] | None, config: dict | None,
                     rule: StratumRule = StratumRule()) -> tuple[list[Example], str | None]:
    """``(examples, why none)``: the ids given (``examples``, e.g. from ``--examples``), else the run config's
    ``report.examples``, else one per stratum; ``why none`` says why there is nothing to draw.

    Raises ``ValueError`` (one line naming the id and where it came from) for an id the run does not hold.
    """
    source = "--examples"
    if examples is None:
        examples = ((config or {}).get("report") or {}).get("examples") or None
        source = "report.examples in the run's config.yaml"
    try:
        return choose_examples(rows, parse_example_ids(examples, source), rule, source), None
    except NotComputable as reason:
        return [], str(reason)
