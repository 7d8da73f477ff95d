"""Sentences generated from the numbers, with stated thresholds, so a summary cannot say more than its tables (pure).

Every sentence is a :class:`Sentence`: its text, and each number it quotes as a :class:`Quote` that
names the CSV table, the line (key columns → values) and the column the number comes from, and
the format it is shown in. A test reads each quote back from its CSV and compares.

Agreement words for a rank correlation r (Kendall τ or Spearman ρ; :func:`agreement`):
r ≥ 0.7 *agree*, 0.3 ≤ r < 0.7 *partly agree*, −0.3 ≤ r < 0.3 *disagree*, r < −0.3 *contradict*.
A blank r is "not computable because …" with the reason. Any sentence resting on fewer than
:data:`~synfaith.analysis.sample_size.SMALL_SAMPLE` instances carries a small-sample warning.
"""

from __future__ import annotations

import html
import json
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from synfaith.analysis.sample_size import SMALL_SAMPLE

AGREE, PARTLY, CONTRADICT = 0.7, 0.3, -0.3  # the agreement scale's cut points (module docstring)
SCALE = "≥ 0.7 agree, 0.3–0.7 partly agree, −0.3–0.3 disagree, < −0.3 contradict"


def agreement(r: float | None) -> str | None:
    """The agreement word for a rank correlation ``r`` (``None`` when r is blank): see the module docstring."""
    if r is None or not math.isfinite(r):
        return None
    if r >= AGREE:
        return "agree"
    if r >= PARTLY:
        return "partly agree"
    return "disagree" if r >= CONTRADICT else "contradict each other"


def plain(value):
    """``value`` as a JSON-ready Python scalar: numpy numbers unwrapped, NaN and infinities as ``None``."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_value(value, spec: str) -> str:
    """``value`` as a sentence shows it: ``format(value, spec)``; ``"—"`` for a missing number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if spec == "s":
        return str(value)
    if spec == "d":
        return str(int(value))
    return format(float(value), spec)


@dataclass(frozen=True)
class Quote:
    """A number (or name) a sentence quotes, and where it is in the report's CSV tables."""

    name: str
    value: float | int | str | None
    table: str  # tables/<table>.csv
    row: Mapping[str, str]  # key column → value: selects exactly one line of the table
    column: str
    spec: str = ".3f"  # format(value, spec); "d" integer, "s" text

    @property
    def shown(self) -> str:
        return format_value(self.value, self.spec)

    def as_dict(self) -> dict:
        return {"name": self.name, "shown": self.shown, "table": self.table, "row": {k: plain(v) for k, v in self.row.items()},
                "column": self.column, "spec": self.spec, "value": plain(self.value)}


@dataclass(frozen=True)
class Sentence:
    """A sentence built from named numbers: ``template`` holds ``{name}`` for each quote; ``text`` fills them in."""

    key: str
    title: str
    template: str
    quotes: tuple[Quote, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = {q.name for q in self.quotes}
        used = {name for _, name, _, _ in string.Formatter().parse(self.template) if name}
        if used != names:
            raise ValueError(f"sentence {self.key!r}: the template names {sorted(used)} but the quotes are {sorted(names)}")

    @property
    def text(self) -> str:
        return self.template.format(**{q.name: q.shown for q in self.quotes})

    def html(self) -> str:
        """The text as HTML, each quoted number in a ``<b data-quote=…>`` naming its table, line and column."""
        quotes = {q.name: q for q in self.quotes}
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(html.escape(literal))
            if name:
                q = quotes[name]
                parts.append(f'<b data-quote="{q.name}" data-table="{q.table}" data-column="{html.escape(q.column)}" '
                             f'data-spec="{q.spec}" data-row="{html.escape(json.dumps(dict(q.row)))}">{html.escape(q.shown)}</b>')
        return "".join(parts) + "".join(f' <span class="warning">{html.escape(w)}</span>' for w in self.warnings)

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "text": self.text, "warnings": list(self.warnings), "numbers": [q.as_dict() for q in self.quotes]}


def small_sample_warning(what: str, n: int, threshold: int = SMALL_SAMPLE) -> tuple[str, ...]:
    """A one-sentence warning when ``n`` < ``threshold`` instances, else none."""
    if n >= threshold:
        return ()
    return (f"Small sample: {n} instance{'s' if n != 1 else ''} behind {what} (fewer than {threshold}); not a reliable result.",)


def rank_agreement_sentence(criterion: str, tau: float | None, explainers: int, instances: int, why_blank: str | None = None) -> Sentence:
    """Visual against textual explainer ranking for one unimodal ``criterion``, in words on the agreement scale.

    ``tau`` is the ``scope == 'all'`` line of ``rank_agreement.csv``; ``why_blank`` says why when it is blank.
    """
    label = "SRG" if criterion == "srg" else criterion
    warnings = small_sample_warning(f"the {label} rankings' means", instances)
    word = agreement(tau)
    if word is None:
        reason = why_blank or "τ is undefined when one of the two rankings ties every explainer"
        return Sentence(f"tau_{criterion}", label, f"Kendall τ between the visual and the textual {label} ranking is not computable because {reason}.",
                        warnings=warnings)
    where = {"scope": "all", "criterion": criterion}
    quotes = (Quote("tau", tau, "rank_agreement", where, "kendall_tau", ".2f"), Quote("explainers", explainers, "rank_agreement", where, "explainers", "d"))
    return Sentence(f"tau_{criterion}", label, f"Visual and textual {label} rankings {word} (Kendall τ = {{tau}} over {{explainers}} explainers).",
                    quotes, warnings)


def unimodal_title(sentences: list[Sentence]) -> str:
    """The summary point's title from its τ sentences: agree / partly agree / disagree / not computable."""
    words = [agreement(next((q.value for q in s.quotes if q.name == "tau"), None)) for s in sentences]
    known = [w for w in words if w is not None]
    if not known:
        return "Unimodal rankings: agreement not computable"
    if any(w in ("disagree", "contradict each other") for w in known):
        return "Unimodal metrics disagree"
    return "Unimodal metrics agree" if all(w == "agree" for w in known) and len(known) == len(words) else "Unimodal metrics partly agree"


def _stratum_quotes(line: Mapping, roles: tuple[str, ...]) -> tuple[Quote, ...]:
    """Quotes of a ``strata_overview.csv`` line: instances, and mean and CI of each role (leader, runner_up, lowest)."""
    where = {"stratum": line["stratum"]}
    quotes = [Quote("instances", line["instances"], "strata_overview", where, "instances", "d"),
              Quote("all_instances", line["all_instances"], "strata_overview", where, "all_instances", "d"),
              Quote("paired", line["paired_instances"], "strata_overview", where, "paired_instances", "d")]
    for role in roles:
        quotes += [Quote(role, line[role], "strata_overview", where, role, "s"), Quote(f"{role}_mean", line[f"{role}_mean"], "strata_overview", where, f"{role}_mean"),
                   Quote(f"{role}_ci_low", line[f"{role}_ci_low"], "strata_overview", where, f"{role}_ci_low"),
                   Quote(f"{role}_ci_high", line[f"{role}_ci_high"], "strata_overview", where, f"{role}_ci_high")]
    return tuple(quotes)


def _pick(quotes: tuple[Quote, ...], template: str) -> tuple[Quote, ...]:
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return tuple(q for q in quotes if q.name in used)


def _basis(line: Mapping) -> tuple[str, int]:
    """Which instances a stratum's means are compared on, in words (empty when it is all of them), and how many there are.

    ``basis`` ``"paired"``: the ``paired_instances`` every explainer completed; ``"own"``: each explainer's own instances.
    """
    n = int(line["instances"])
    if line["basis"] == "paired":
        paired = int(line["paired_instances"])
        return ("" if paired == n else "on the {paired} instances every explainer completed, "), paired
    return "each explainer on the instances it completed (none was completed by every explainer), ", n


def stratum_sentence(line: Mapping, confidence: float = 0.95, lmm: Mapping | None = None) -> Sentence:
    """The leader of one stratum (a ``strata_overview.csv`` line as a dict), with its bootstrap CI and the runner-up.

    ``lmm``: optionally the stratum's mixed-model line with the largest coefficient (``explainer``,
    ``coefficient``, ``p_value``, ``reference``, and ``source`` when it is not the mixed model
    but its fallback) from ``strata_mixed_model.csv``.
    """
    stratum = line["stratum"]
    basis, n = _basis(line)
    name = "All instances (pooled)" if stratum == "all" else f"{stratum.capitalize()} stratum"
    rule = "" if stratum == "all" else f" ({line['rule']}; {{instances}} of {{all_instances}} instances)"
    head = f"{name}{rule}" if stratum != "all" else f"{name}, {{instances}} instances"
    warnings = small_sample_warning(f"the {stratum} stratum's comparison" if stratum != "all" else "the pooled comparison", n)
    level = f"{round(100 * confidence)}% CI"
    if line["leader"] is None or (isinstance(line["leader"], float) and math.isnan(line["leader"])):
        template = f"{head}: no explainer has an F_syn value here, so there is no leader."
        return Sentence(stratum, name, template, _pick(_stratum_quotes(line, ()), template), warnings)
    template = f"{head}: {basis}{{leader}} leads with mean F_syn {{leader_mean}} ({level} {{leader_ci_low}} to {{leader_ci_high}})"
    roles: tuple[str, ...] = ("leader",)
    if line["runner_up"] is not None and not (isinstance(line["runner_up"], float) and math.isnan(line["runner_up"])):
        roles = ("leader", "runner_up")
        template += ", ahead of {runner_up} at {runner_up_mean} ({runner_up_ci_low} to {runner_up_ci_high})"
        overlap = line["ci_overlap"]
        if overlap is not None and not (isinstance(overlap, float) and math.isnan(overlap)):
            template += ("; the two intervals overlap, so the lead is within the uncertainty" if overlap
                         else "; the two intervals do not overlap")
    else:
        template += " (the only explainer)"
    quotes = _stratum_quotes(line, roles)
    if lmm is not None:
        where = {"stratum": stratum, "explainer": lmm["explainer"]}
        where_words = "these instances" if stratum == "all" else "this stratum"
        model = "the mixed model" if lmm.get("source", "mixed model (REML)") == "mixed model (REML)" else f"the {lmm['source']} fallback"
        template += (f"; {model} on {where_words} gives {{lmm_explainer}} the largest coefficient over {lmm['reference']} "
                     "({lmm_coefficient}, p = {lmm_p})")
        quotes += (Quote("lmm_explainer", lmm["explainer"], "strata_mixed_model", where, "explainer", "s"),
                   Quote("lmm_coefficient", lmm["coefficient"], "strata_mixed_model", where, "coefficient"),
                   Quote("lmm_p", lmm["p_value"], "strata_mixed_model", where, "p_value", ".2g"))
    if stratum == "all":
        template += ". Pooling mixes instances where finding the evidence is rewarded with ones where it is penalised, so this is not the headline"
    return Sentence(stratum, name, template + ".", _pick(quotes, template), warnings)


def redundant_sentence(line: Mapping) -> Sentence:
    """How many explainers are negative on the redundant stratum, and why in words (F_syn rewards synergy, not redundancy)."""
    basis, n = _basis(line)
    negative, explainers = int(line["negative_means"]), int(line["explainers"])
    warnings = small_sample_warning("the redundant stratum's comparison", n)
    where = {"stratum": "redundant"}
    quotes = _stratum_quotes(line, ("leader", "lowest")) + (
        Quote("negative", negative, "strata_overview", where, "negative_means", "d"),
        Quote("explainers", explainers, "strata_overview", where, "explainers", "d"))
    head = f"Redundant stratum ({line['rule']}; {{instances}} of {{all_instances}} instances)"
    if explainers == 0:
        template = f"{head}: no explainer has an F_syn value here."
    else:
        every = "every explainer is negative — " if negative == explainers else ""
        template = (f"{head}: {basis}{every}{{negative}} of {{explainers}} explainers have a negative mean F_syn "
                    "(highest {leader} at {leader_mean}, lowest {lowest} at {lowest_mean}).")
        if negative:
            template += (" Here either modality alone gives the answer, so the image evidence and the text evidence are redundant: "
                         "keeping both raises the answer's probability less than the sum of keeping each alone, the Harsanyi dividend "
                         "of the evidence pair is negative, and an explainer that finds the evidence scores below 0. F_syn rewards "
                         "finding synergy, not redundancy: read this table as that check, not as a ranking.")
    return Sentence("redundant", "Redundant stratum", template, _pick(quotes, template), warnings)


def correlation_sentence(spearman: float | None, kendall: float | None, pairs: int, cost_ratio: float | None,
                         why_blank: str | None = None) -> Sentence:
    """F_syn against the exact SII (``fsyn_sii_agreement.csv`` scope ``all``, ``metric_cost.csv``), on the agreement scale."""
    word = agreement(spearman)
    if word is None:
        reason = why_blank or "one of the two has the same value on every pair"
        return Sentence("fsyn_sii", "F_syn against the exact interaction", f"The correlation of F_syn with the exact SII is not computable because {reason}.")
    where = {"scope": "all"}
    verb = {"agree": "agrees", "partly agree": "partly agrees", "disagree": "disagrees", "contradict each other": "contradicts"}[word]
    template = (f"F_syn {verb} with the exact SII ground truth (Spearman ρ = {{spearman}}, Kendall τ = {{kendall}} "
                "over {pairs} (instance, explainer) pairs)")
    quotes = [Quote("spearman", spearman, "fsyn_sii_agreement", where, "spearman", ".2f"),
              Quote("kendall", kendall, "fsyn_sii_agreement", where, "kendall", ".2f"),
              Quote("pairs", pairs, "fsyn_sii_agreement", where, "pairs", "d")]
    if cost_ratio is not None and math.isfinite(cost_ratio):
        template += ", while the SII needs {ratio}× the evaluations"
        quotes.append(Quote("ratio", cost_ratio, "metric_cost", {"metric": "SII ground truth"}, "evaluations vs F_syn", ".1f"))
    return Sentence("fsyn_sii", "F_syn against the exact interaction", template + ".", tuple(quotes), small_sample_warning("the correlation", pairs))
