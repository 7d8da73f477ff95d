"""Metrics: functions of a :class:`~synfaith.games.Game` and an explainer's two score vectors.

Metrics never import models. Each is declared once in the metric registry
(:func:`register_metric`: name, needs, settings, columns) and gathers all its coalitions first and evaluates them in one
batched game call (docs/design.md §3):

- :func:`unimodal_faithfulness` — visual/textual deletion, insertion, SRG.
- :func:`synergistic_faithfulness` — F_syn, the Harsanyi dividend of the top sets.
- :func:`sii_ground_truth` — the exact order-2 SII of the 8-player macro game (validation).
- :func:`redundancy_profile` — the modality-level dividend of an instance.
- :func:`modality_influence`, :func:`unified_stability` — properties of an explainer across
  related inputs (the other modality removed; small perturbations that keep the answer).
"""

from synfaith.metrics.coalitions import CoalitionPlan, CoalitionValues
from synfaith.metrics.ranking import (
    DegenerateAttributionError,
    PerturbationPath,
    perturbation_path,
    rank_units,
    step_fractions,
    top_counts,
)
from synfaith.metrics.probes import ModalityInfluence, Stability, modality_influence, unified_stability
from synfaith.metrics.registry import (
    METRICS,
    Column,
    Metric,
    MetricInputs,
    all_metric_columns,
    get_metric,
    metric_names,
    metric_settings,
    register_metric,
)
from synfaith.metrics.redundancy import RedundancyProfile, redundancy_profile
from synfaith.metrics.sii import SIIGroundTruth, exact_pair_sii, macro_players, sii_ground_truth
from synfaith.metrics.synergy import SynergisticFaithfulness, synergistic_faithfulness
from synfaith.metrics.unimodal import CurveScores, UnimodalFaithfulness, unimodal_faithfulness

__all__ = [
    "METRICS",
    "Column",
    "Metric",
    "MetricInputs",
    "all_metric_columns",
    "get_metric",
    "metric_names",
    "metric_settings",
    "register_metric",
    "CoalitionPlan",
    "CoalitionValues",
    "CurveScores",
    "DegenerateAttributionError",
    "ModalityInfluence",
    "PerturbationPath",
    "RedundancyProfile",
    "SIIGroundTruth",
    "Stability",
    "SynergisticFaithfulness",
    "UnimodalFaithfulness",
    "exact_pair_sii",
    "macro_players",
    "modality_influence",
    "perturbation_path",
    "rank_units",
    "redundancy_profile",
    "sii_ground_truth",
    "step_fractions",
    "synergistic_faithfulness",
    "top_counts",
    "unimodal_faithfulness",
    "unified_stability",
]
