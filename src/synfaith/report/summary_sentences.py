"""The summary's sentences on unimodal agreement and on F_syn against the SII, read back from the CSVs this report wrote.

Numbers are taken from the written tables (``rank_agreement.csv``, ``fsyn_sii_agreement.csv``,
``metric_cost.csv``), so a sentence quotes exactly what its CSV holds; where a table was not
written the sentence says why the number is not computable.
"""

from __future__ import annotations

import pandas as pd

from synfaith.analysis.rank_agreement import MIN_EXPLAINERS
from synfaith.analysis.rows import INSTANCE, explainer_count, successful, why_not_computable
from synfaith.analysis.sentences import Sentence, correlation_sentence, rank_agreement_sentence
from synfaith.report.page import ReportBuilder


def _read(builder: ReportBuilder, name: str) -> pd.DataFrame | None:
    """The CSV ``name`` as this report wrote it (``None`` when this report did not write it)."""
    return pd.read_csv(builder.out_dir / "tables" / f"{name}.csv") if name in builder.tables else None


def unimodal_sentences(builder: ReportBuilder, rows: pd.DataFrame) -> list[Sentence]:
    """One sentence per unimodal criterion (deletion, insertion, SRG): visual vs textual ranking on the agreement scale."""
    table = _read(builder, "rank_agreement")
    instances = successful(rows, "visual_deletion").drop_duplicates(list(INSTANCE)).shape[0]
    explainers = explainer_count(rows, "visual_deletion")
    blank = why_not_computable(rows, "visual_deletion")
    if blank is None and explainers < MIN_EXPLAINERS:
        blank = f"τ between two rankings needs at least {MIN_EXPLAINERS} explainers and this run has {explainers}"
    sentences = []
    for criterion in ("deletion", "insertion", "srg"):
        line = None
        if table is not None:
            match = table[(table["scope"] == "all") & (table["criterion"] == criterion)]
            line = match.iloc[0] if len(match) else None
        if line is None or pd.isna(line["kendall_tau"]):
            why = blank
            if why is None and line is not None and int(line["explainers"]) < MIN_EXPLAINERS:
                why = f"only {int(line['explainers'])} explainers have both a visual and a textual {criterion} value (τ needs {MIN_EXPLAINERS})"
            sentences.append(rank_agreement_sentence(criterion, None, explainers, instances, why))
        else:
            sentences.append(rank_agreement_sentence(criterion, float(line["kendall_tau"]), int(line["explainers"]), instances))
    return sentences


def validation_sentence(builder: ReportBuilder, rows: pd.DataFrame) -> Sentence | None:
    """F_syn against the exact SII, from ``fsyn_sii_agreement.csv`` and ``metric_cost.csv``; ``None`` when the run has no SII."""
    table = _read(builder, "fsyn_sii_agreement")
    if table is None:
        return None
    line = table[table["scope"] == "all"].iloc[0]
    cost = _read(builder, "metric_cost")
    ratio = None
    if cost is not None and (cost["metric"] == "SII ground truth").any():
        ratio = float(cost.loc[cost["metric"] == "SII ground truth", "evaluations vs F_syn"].iloc[0])
    spearman = None if pd.isna(line["spearman"]) else float(line["spearman"])
    kendall = None if pd.isna(line["kendall"]) else float(line["kendall"])
    return correlation_sentence(spearman, kendall, int(line["pairs"]), ratio)
