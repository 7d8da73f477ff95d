"""Explainers on planted ground truth, through the one pipeline: rows for the explainer table,
the sanity check and the toy model's card (the pure summaries live in :mod:`synfaith.analysis`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from tqdm.auto import tqdm

from synfaith.data.instance import Instance
from synfaith.explainers.registry import DEFAULT_EXPLAINERS, get_explainer
from synfaith.runs.pipeline import MetricPlan, score_instance


def planted_rows(
    model,
    instances: Sequence[Instance],
    explainers: Sequence[str] = DEFAULT_EXPLAINERS,
    metrics: Sequence[str] = ("fsyn", "pointing"),
    steps: int = 11,
    progress: bool = True,
    label: str = "planted",
) -> pd.DataFrame:
    """Rows (one per instance × explainer) of the chosen metrics for the model's own answers.

    Each instance is scored by :func:`~synfaith.runs.pipeline.score_instance`: one game, one
    coalition cache, shared by every explainer and metric of the instance.
    """
    built = {name: get_explainer(name) for name in explainers}
    plan = MetricPlan.build(metrics, {"steps": steps})
    rows = []
    for index, instance in enumerate(tqdm(instances, desc=label, unit="instance", disable=not progress)):
        rows += score_instance(model, instance, explainers=built, plan=plan, model_label=getattr(model, "name", ""), dataset_label=label, index=index)
    frame = pd.DataFrame(rows)
    if "meta" in frame:
        import json

        frame["subset"] = [json.loads(m).get("subset") if isinstance(m, str) else None for m in frame["meta"]]
    return frame


SANITY_EXPLAINERS = ("oracle", "random", "reverse_oracle")


def sanity_instances(subset: str, n: int, split: str = "test") -> list[Instance]:
    """Instances with planted evidence: existence questions answered yes, in ``subset``."""
    from synfaith.data.synthetic import synthetic_instances

    pool = synthetic_instances(4 * n, split=split, families=("existence",), subsets=(subset,))
    return [i for i in pool if i.answer == "yes"][:n]


def planted_sanity(model, instances: Sequence[Instance], explainers: Sequence[str] = SANITY_EXPLAINERS, steps: int = 11):
    """F_syn and unimodal deletion/insertion of each explainer, for the model's own answers."""
    from synfaith.analysis.sanity import sanity_scores

    return sanity_scores(planted_rows(model, instances, explainers, ("unimodal", "fsyn"), steps, progress=False))


def redundancy_by_subset(model, instances: Sequence[Instance]) -> dict[str, float]:
    """Mean modality dividend Δ per ``meta["subset"]``, for the model's own answers."""
    from synfaith.analysis.sanity import mean_dividend_by_subset

    return mean_dividend_by_subset(planted_rows(model, instances, ("random",), ("redundancy",), progress=False))


def sanity_table(model, n: int = 50) -> list[str]:
    """Markdown lines: Oracle vs Random vs reversed Oracle on synergy and redundant instances."""
    from synfaith.analysis.sanity import sanity_markdown

    rows = {
        subset: planted_rows(model, sanity_instances(subset, n), SANITY_EXPLAINERS, ("unimodal", "fsyn"), progress=False)
        for subset in ("synergy", "redundant")
    }
    return sanity_markdown(rows, n)
