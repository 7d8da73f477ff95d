"""The analytic demo: every metric on games whose right answers are known.

Three rankings — the oracle (critical units first), a seeded random one and the reversed
oracle — are scored on four games with one critical visual unit ``i*`` and one critical
text unit ``j*``. The table shows the paper's argument in miniature: on the redundant (OR)
game the unimodal curves cannot tell the oracle from chance, while F_syn and the exact SII
separate the rankings wherever the modalities interact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfaith.games import AdditiveGame, AndGame, Game, OrGame, XorGame
from synfaith.metrics import sii_ground_truth, synergistic_faithfulness, unimodal_faithfulness


@dataclass(frozen=True)
class DemoRow:
    game: str
    ranking: str
    visual_deletion: float
    visual_insertion: float
    visual_srg: float
    textual_srg: float
    fsyn: float
    sii: float


def _rankings(n_image: int, n_text: int, image_unit: int, text_unit: int, seed: int) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    oracle_image = -np.arange(n_image, dtype=float)
    oracle_image[image_unit] = 1.0
    oracle_text = -np.arange(n_text, dtype=float)
    oracle_text[text_unit] = 1.0
    return {
        "oracle": (oracle_image, oracle_text),
        "random": (rng.normal(size=n_image), rng.normal(size=n_text)),
        "reversed": (-oracle_image, -oracle_text),
    }


def analytic_demo(n_image: int = 16, n_text: int = 6, steps: int = 11, seed: int = 0) -> list[DemoRow]:
    """Score oracle, random and reversed rankings on the AND, OR, XOR and additive games."""
    image_unit, text_unit = n_image // 3, n_text // 2
    games: dict[str, Game] = {
        "AND (synergy)": AndGame(n_image, n_text, image_unit, text_unit),
        "OR (redundancy)": OrGame(n_image, n_text, image_unit, text_unit),
        "XOR": XorGame(n_image, n_text, image_unit, text_unit),
        "additive": AdditiveGame.random(n_image, n_text, seed=seed),
    }
    rows = []
    for game_name, game in games.items():
        for ranking, (image_scores, text_scores) in _rankings(n_image, n_text, image_unit, text_unit, seed).items():
            unimodal = unimodal_faithfulness(game, image_scores, text_scores, steps)
            fsyn = synergistic_faithfulness(game, image_scores, text_scores, steps)
            sii = sii_ground_truth(game, image_scores, text_scores, steps, seed=seed)
            rows.append(
                DemoRow(
                    game=game_name,
                    ranking=ranking,
                    visual_deletion=unimodal.visual.deletion,
                    visual_insertion=unimodal.visual.insertion,
                    visual_srg=unimodal.visual.srg,
                    textual_srg=unimodal.textual.srg,
                    fsyn=fsyn.score,
                    sii=sii.score,
                )
            )
    return rows


def format_table(rows: list[DemoRow]) -> str:
    """A fixed-width text table of demo rows."""
    header = f"{'game':<16} {'ranking':<9} {'Del_V':>6} {'Ins_V':>6} {'SRG_V':>6} {'SRG_T':>6} {'F_syn':>6} {'SII':>6}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.game:<16} {r.ranking:<9} {r.visual_deletion:6.3f} {r.visual_insertion:6.3f} "
            f"{r.visual_srg:6.3f} {r.textual_srg:6.3f} {r.fsyn:6.3f} {r.sii:6.3f}"
        )
    return "\n".join(lines)


def toy_demo(per_subset: int = 30) -> str:
    """The embedded default in miniature: the shipped toy VLM on planted synthetic instances.

    Returns markdown lines: the Oracle / Random / reversed-Oracle sanity table on ``synergy``
    and ``redundant`` existence instances and the redundancy profile by subset.
    """
    from synfaith.data.synthetic import synthetic_instances
    from synfaith.models import load_model
    from synfaith.runs.planted import redundancy_by_subset, sanity_table

    adapter = load_model("toy")
    profile = redundancy_by_subset(adapter, synthetic_instances(max(4, per_subset // 3), split="test"))
    lines = sanity_table(adapter, n=per_subset)
    lines += ["", "Mean modality dividend Δ by subset (> 0 synergy, < 0 redundancy):", ""]
    lines += [f"  {subset:<10} {value:+.3f}" for subset, value in sorted(profile.items())]
    return "\n".join(lines)
