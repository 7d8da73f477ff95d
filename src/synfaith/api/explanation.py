"""What :func:`synfaith.explain` returns: one instance, every explainer's scores, F_syn and cost.

An :class:`Explanation` is built from the rows of the one per-instance pipeline
(:func:`~synfaith.runs.pipeline.score_instance`), one row per explainer, so its numbers are the
numbers a run would store for the same instance. It draws itself with the report's per-instance
figure (:func:`~synfaith.report.figures_maps.qualitative_figure`) and writes itself as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

UNIMODAL_COLUMNS = ("visual_deletion", "visual_insertion", "visual_srg", "textual_deletion", "textual_insertion", "textual_srg")
INSTANCE_COLUMNS = ("v_full", "v_image_only", "v_text_only", "v_empty", "modality_dividend")
PNG_NAME, JSON_NAME = "explain.png", "explain.json"


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, NaN or infinite): JSON has no NaN."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


@dataclass(frozen=True)
class ExplainerCost:
    """What one explanation and its metrics cost.

    Attributes:
        seconds: the explainer's wall time.
        model_calls: forward/backward passes (or distinct game coalitions) the explainer reports.
        forward_passes: sequences run forward during the explanation (None: the model does not count).
        backward_passes: sequences whose gradient was taken.
        metric_coalitions: per metric, the distinct coalitions it asked for (its cost on a cold cache).
        metric_seconds: per metric, its wall time.
    """

    seconds: float | None
    model_calls: int | None
    forward_passes: int | None
    backward_passes: int | None
    metric_coalitions: dict[str, int | None] = field(default_factory=dict)
    metric_seconds: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplainerResult:
    """One explainer on the instance.

    Attributes:
        explainer: the explainer's name (its row key).
        status: ``"ok"``, or ``"failed"`` with the reason in ``message``.
        message: why it failed (None when ok).
        fsyn: F_syn = (F_del + F_ins) / 2, with F_del = (1/K) Σ_k S_del(t_k) and F_ins = (1/K) Σ_k S_ins(t_k),
            S the 2-player Harsanyi dividend of the top image set I_t and top text set T_t.
        fsyn_deletion, fsyn_insertion: F_del and F_ins.
        deletion_curve, insertion_curve: S_del(t_k) and S_ins(t_k), k = 0..K−1.
        unimodal: ``visual_deletion`` … ``textual_srg``: Del = (1/K) Σ_k v(remove top-t), Ins = (1/K) Σ_k
            v(keep top-t), SRG = Ins − Del, the other modality clean.
        image_scores: float[m], the explainer's score per visual unit.
        text_scores: float[n], its score per query token.
        cost: :class:`ExplainerCost`.
    """

    explainer: str
    status: str
    message: str | None
    fsyn: float | None
    fsyn_deletion: float | None
    fsyn_insertion: float | None
    deletion_curve: tuple[float, ...]
    insertion_curve: tuple[float, ...]
    unimodal: dict[str, float | None]
    image_scores: np.ndarray = field(compare=False, repr=False)
    text_scores: np.ndarray = field(compare=False, repr=False)
    cost: ExplainerCost = field(default_factory=lambda: ExplainerCost(None, None, None, None))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_row(cls, row: Mapping[str, Any], metrics: tuple[str, ...]) -> ExplainerResult:
        """The result held in one pipeline row (``metrics``: the metric names the row was scored with)."""
        ok = row.get("status") == "ok"
        cost = ExplainerCost(
            seconds=_number(row.get("explain_seconds")),
            model_calls=_count(row.get("explain_model_calls")),
            forward_passes=_count(row.get("explain_forward_passes")),
            backward_passes=_count(row.get("explain_backward_passes")),
            metric_coalitions={m: _count(row.get(f"{m}_coalitions")) for m in metrics if f"{m}_coalitions" in row},
            metric_seconds={m: _number(row.get(f"{m}_seconds")) for m in metrics if f"{m}_seconds" in row},
        )
        return cls(
            explainer=str(row["explainer"]),
            status="ok" if ok else "failed",
            message=None if ok else f"{row.get('stage')}: {row.get('message')}",
            fsyn=_number(row.get("fsyn")),
            fsyn_deletion=_number(row.get("fsyn_deletion")),
            fsyn_insertion=_number(row.get("fsyn_insertion")),
            deletion_curve=tuple(float(v) for v in row.get("fsyn_deletion_curve") or ()),
            insertion_curve=tuple(float(v) for v in row.get("fsyn_insertion_curve") or ()),
            unimodal={c: _number(row.get(c)) for c in UNIMODAL_COLUMNS},
            image_scores=np.asarray(row.get("image_scores") or [], dtype=float),
            text_scores=np.asarray(row.get("text_scores") or [], dtype=float),
            cost=cost,
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready numbers (missing or non-finite values as None)."""
        return {
            "status": self.status,
            "message": self.message,
            "fsyn": self.fsyn,
            "fsyn_deletion": self.fsyn_deletion,
            "fsyn_insertion": self.fsyn_insertion,
            "fsyn_deletion_curve": list(self.deletion_curve),
            "fsyn_insertion_curve": list(self.insertion_curve),
            "unimodal": dict(self.unimodal),
            "image_scores": self.image_scores.tolist(),
            "text_scores": self.text_scores.tolist(),
            "cost": {
                "seconds": self.cost.seconds,
                "model_calls": self.cost.model_calls,
                "forward_passes": self.cost.forward_passes,
                "backward_passes": self.cost.backward_passes,
                "metric_coalitions": dict(self.cost.metric_coalitions),
                "metric_seconds": dict(self.cost.metric_seconds),
            },
        }

    def note(self) -> str:
        """Two lines for the figure: visual and textual Del / Ins / SRG (or why the explainer failed)."""
        if not self.ok:
            return "failed: " + "\n".join(_wrap(self.message or "", 34)[:3])

        def line(prefix: str, modality: str) -> str:
            values = [self.unimodal.get(f"{modality}_{what}") for what in ("deletion", "insertion", "srg")]
            if any(v is None for v in values):
                return f"{prefix}: —"
            return f"{prefix}: Del {values[0]:.2f} Ins {values[1]:.2f} SRG {values[2]:+.2f}"

        return line("image", "visual") + "\n" + line("text", "textual")


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


@dataclass(frozen=True)
class Explanation:
    """One image + question explained by several explainers, each scored with F_syn and the unimodal metrics.

    Attributes:
        model: the model's label.
        instance_id, question, choices: the instance (``choices`` None for a yes/no or open question).
        response, answer: the model's greedy response and its parsed answer (the target every score explains).
        reference_answer, correct: the reference answer given, and whether the model matched it (None: not given).
        tokens: the query text of each text unit.
        unit_grid: int[rows, cols], the visual units laid out over the image.
        steps: K, the points of the step grid t_k = k/(K−1).
        instance: ``v_full`` = v(V,T), ``v_image_only``, ``v_text_only``, ``v_empty`` and the modality dividend
            Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅) (> 0 synergy, < 0 redundancy).
        game_evaluations: the distinct coalitions the instance's one shared game evaluated, for everything.
        results: one :class:`ExplainerResult` per explainer, in the order asked.
        image: uint8[H, W, 3], the image (for :meth:`plot`; not written to JSON).
        boxes, deciding: the instance's evidence boxes and deciding words, when it has ground truth.
    """

    model: str
    instance_id: str
    question: str
    choices: tuple[str, ...] | None
    response: str
    answer: str
    reference_answer: str | None
    correct: bool | None
    tokens: tuple[str, ...]
    unit_grid: np.ndarray = field(compare=False, repr=False)
    steps: int = 11
    instance: dict[str, float | None] = field(default_factory=dict)
    game_evaluations: int | None = None
    results: tuple[ExplainerResult, ...] = ()
    image: np.ndarray = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    deciding: frozenset[str] = frozenset()

    @property
    def explainers(self) -> list[str]:
        """The explainers' names, in order."""
        return [r.explainer for r in self.results]

    def __getitem__(self, explainer: str) -> ExplainerResult:
        for result in self.results:
            if result.explainer == explainer:
                return result
        raise KeyError(f"no explainer {explainer!r} in this explanation; it holds {', '.join(self.explainers)}")

    def to_frame(self):
        """A pandas DataFrame, one line per explainer: status, F_syn and its halves, unimodal scores, seconds."""
        import pandas as pd

        lines = [{"explainer": r.explainer, "status": r.status, "fsyn": r.fsyn, "fsyn_deletion": r.fsyn_deletion,
                  "fsyn_insertion": r.fsyn_insertion, **r.unimodal, "seconds": r.cost.seconds, "message": r.message}
                 for r in self.results]
        return pd.DataFrame(lines).set_index("explainer")

    def to_dict(self) -> dict[str, Any]:
        """Everything but the image, as JSON-ready values (what ``explain.json`` holds)."""
        from synfaith import __version__

        return {
            "synfaith_version": __version__,
            "model": self.model,
            "instance_id": self.instance_id,
            "question": self.question,
            "choices": list(self.choices) if self.choices is not None else None,
            "response": self.response,
            "answer": self.answer,
            "reference_answer": self.reference_answer,
            "correct": self.correct,
            "query_tokens": list(self.tokens),
            "unit_grid": np.asarray(self.unit_grid).astype(int).tolist(),
            "steps": self.steps,
            "instance": {k: _number(v) for k, v in self.instance.items()},
            "game_evaluations": self.game_evaluations,
            "explainers": {r.explainer: r.to_dict() for r in self.results},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def title(self) -> str:
        """The figure's heading: model, answer (and whether it is right) and the modality dividend Δ."""
        delta = _number(self.instance.get("modality_dividend"))
        verdict = "" if self.correct is None else f", {'right' if self.correct else 'wrong'} (reference {self.reference_answer})"
        dividend = f"Δ = {delta:+.3f}" if delta is not None else "Δ not computed"
        return f"{self.model} answers {self.response.strip()!r} → {self.answer}{verdict}; {dividend}; K = {self.steps}"

    def plot(self):
        """The maps side by side over the image (a matplotlib Figure; in a notebook it shows itself).

        The report's per-instance figure: the image, then per explainer its visual scores on the
        unit grid (one hue, min–max normalised per map) over a greyscale copy of the image, the query
        tokens beneath as a heat strip, F_syn and the unimodal Del / Ins / SRG under the map.
        """
        from synfaith.report.figures_maps import InstanceMaps, qualitative_figure

        grid = np.asarray(self.unit_grid, dtype=int)
        ok = [r for r in self.results if r.ok]
        maps = InstanceMaps(
            title=self.title(),
            question=self.question + (" " + " ".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(self.choices)) if self.choices else ""),
            image=np.asarray(self.image),
            boxes=self.boxes,
            tokens=list(self.tokens),
            deciding=self.deciding,
            maps={r.explainer: r.image_scores[grid] for r in ok},
            text_scores={r.explainer: r.text_scores for r in ok},
            fsyn={r.explainer: r.fsyn if r.fsyn is not None else math.nan for r in self.results},
            notes={r.explainer: r.note() for r in self.results},
        )
        return qualitative_figure(maps, self.explainers)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``out_dir/explain.png`` (:meth:`plot`) and ``out_dir/explain.json`` (:meth:`to_json`); returns both paths."""
        from synfaith.report.figures import plt

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        figure = self.plot()
        try:
            figure.savefig(out / PNG_NAME, dpi=150)
        finally:
            plt.close(figure)
        (out / JSON_NAME).write_text(self.to_json() + "\n", encoding="utf-8")
        return out / PNG_NAME, out / JSON_NAME

    def describe(self) -> str:
        """A plain-text table: one line per explainer with F_syn, its halves, visual and textual SRG and seconds."""
        lines = [self.title(), f"{'explainer':22s} {'F_syn':>7s} {'F_del':>7s} {'F_ins':>7s} {'SRG_V':>7s} {'SRG_T':>7s} {'seconds':>8s}"]

        def cell(value: float | None, width: int = 7, digits: int = 3) -> str:
            return f"{value:{width}.{digits}f}" if value is not None else f"{'—':>{width}s}"

        for r in self.results:
            if not r.ok:
                lines.append(f"{r.explainer:22s} failed: {r.message}")
                continue
            lines.append(f"{r.explainer:22s} {cell(r.fsyn)} {cell(r.fsyn_deletion)} {cell(r.fsyn_insertion)} "
                         f"{cell(r.unimodal.get('visual_srg'))} {cell(r.unimodal.get('textual_srg'))} {cell(r.cost.seconds, 8, 2)}")
        return "\n".join(lines)
