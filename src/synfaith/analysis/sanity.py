"""Sanity rows on planted ground truth: does each metric rank the Oracle above chance?

On the synthetic world the perfect explainer is known. On ``synergy`` instances a faithful
cross-modal metric must put the Oracle above Random and the reversed Oracle; on ``redundant``
instances the unimodal deletion curve cannot tell them apart (the paper's collapse).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

from synfaith.data.instance import Instance
from synfaith.explainers import get_explainer
from synfaith.metrics import redundancy_profile, synergistic_faithfulness, unimodal_faithfulness


@dataclass(frozen=True)
class ExplainerScores:
    """Per-instance metric values of one explainer on a list of instances."""

    explainer: str
    fsyn: np.ndarray
    visual_deletion: np.ndarray
    visual_insertion: np.ndarray
    textual_deletion: np.ndarray


def planted_sanity(
    adapter, instances: Sequence[Instance], explainers: Sequence[str] = ("oracle", "random", "reverse_oracle"), steps: int = 11
) -> dict[str, ExplainerScores]:
    """F_syn and unimodal deletion/insertion of each explainer, for the model's own answers."""
    built = {name: get_explainer(name) for name in explainers}
    values: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in explainers}
    for instance in instances:
        prepared = adapter.prepare(instance)
        target = adapter.generate_target(prepared)
        game = adapter.game(prepared, target)
        for name, explainer in built.items():
            attribution = explainer.explain(adapter, prepared, target)
            fsyn = synergistic_faithfulness(game, attribution.image_scores, attribution.text_scores, steps)
            unimodal = unimodal_faithfulness(game, attribution.image_scores, attribution.text_scores, steps)
            row = values[name]
            row["fsyn"].append(fsyn.score)
            row["visual_deletion"].append(unimodal.visual.deletion)
            row["visual_insertion"].append(unimodal.visual.insertion)
            row["textual_deletion"].append(unimodal.textual.deletion)
    return {
        name: ExplainerScores(name, **{metric: np.array(v) for metric, v in row.items()}) for name, row in values.items()
    }


def compare_explainers(first: np.ndarray, second: np.ndarray, alternative: str = "greater") -> float:
    """Paired Wilcoxon signed-rank p-value that ``first`` exceeds ``second`` (1.0 if all equal)."""
    if np.allclose(first, second):
        return 1.0
    return float(wilcoxon(first, second, alternative=alternative, zero_method="wilcox").pvalue)


def redundancy_by_subset(adapter, instances: Sequence[Instance]) -> dict[str, float]:
    """Mean modality dividend Δ (DESIGN.md §3) per ``meta["subset"]``, for the model's own answers."""
    dividends: dict[str, list[float]] = defaultdict(list)
    for instance in instances:
        prepared = adapter.prepare(instance)
        target = adapter.generate_target(prepared)
        dividends[instance.meta["subset"]].append(redundancy_profile(adapter.game(prepared, target)).dividend)
    return {subset: float(np.mean(values)) for subset, values in dividends.items()}


def sanity_instances(subset: str, n: int, split: str = "test") -> list[Instance]:
    """Instances with planted evidence: existence questions answered yes, in ``subset``."""
    from synfaith.data.synthetic import synthetic_instances

    pool = synthetic_instances(4 * n, split=split, families=("existence",), subsets=(subset,))
    return [i for i in pool if i.answer == "yes"][:n]


def sanity_table(adapter, n: int = 50) -> list[str]:
    """Markdown lines: Oracle vs Random vs reversed Oracle on synergy and redundant instances."""
    lines = [
        f"Existence questions answered yes ({n} per subset, test split), the model's own answers. p = one-sided",
        "paired Wilcoxon that the Oracle scores higher (F_syn, Ins_V) or lower (Del_V, better) than the other.",
        "",
        "| subset | explainer | F_syn | Del_V | Ins_V | p F_syn | p Del_V |",
        "|---|---|---|---|---|---|---|",
    ]
    for subset in ("synergy", "redundant"):
        scores = planted_sanity(adapter, sanity_instances(subset, n))
        oracle = scores["oracle"]
        for name, s in scores.items():
            if name == "oracle":
                p_fsyn = p_del = "—"
            else:
                p_fsyn = f"{compare_explainers(oracle.fsyn, s.fsyn):.1e}"
                p_del = f"{compare_explainers(oracle.visual_deletion, s.visual_deletion, 'less'):.1e}"
            lines.append(
                f"| {subset} | {name} | {s.fsyn.mean():.3f} | {s.visual_deletion.mean():.3f} | "
                f"{s.visual_insertion.mean():.3f} | {p_fsyn} | {p_del} |"
            )
    return lines
