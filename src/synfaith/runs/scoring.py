"""One instance through the whole pipeline: prepare, target, explainers, metrics — as rows.

Every stage that can fail on bad input is guarded: the rows of that instance become failure
rows naming the stage and the error, and the run goes on. Metrics see only the game and the
attribution's scores (explainers never import metrics; metrics never import models).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from synfaith.data.source import InvalidRow, Row
from synfaith.metrics import redundancy_profile, sii_ground_truth, synergistic_faithfulness, unimodal_faithfulness

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:2000]


def _json_default(value):
    return str(value)


def score_instance(
    adapter,
    row: Row,
    *,
    model: str,
    dataset: str,
    index: int,
    explainers: Mapping[str, Any],
    metrics: set[str],
    steps: int,
    with_sii: bool,
    background_players: int,
    seed: int,
    probes: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows, one per explainer key in ``explainers``, for one dataset row.

    ``probes`` (None: skip) holds the influence/stability settings: ``sigma``, ``draws``,
    ``top_fraction``; which of the two run follows ``metrics``.
    """
    base: dict[str, Any] = {"model": model, "dataset": dataset, "instance_index": index, "worker": WORKER}

    def failed(stage: str, message: str, names=explainers) -> list[dict[str, Any]]:
        return [base | {"explainer": name, "status": "failed", "stage": stage, "message": message} for name in names]

    if isinstance(row, InvalidRow):
        base["instance_id"] = row.id
        return failed("load", row.reason)
    instance = row
    base |= {
        "instance_id": instance.id,
        "question": instance.question,
        "reference_answer": instance.answer,
        "meta": json.dumps(instance.meta, default=_json_default, sort_keys=True),
    }
    try:
        prepared = adapter.prepare(instance)
    except Exception as error:  # noqa: BLE001 - any bad input becomes a failure row
        return failed("prepare", _error(error))
    base |= {
        "n_image_units": prepared.n_image_units,
        "n_text_units": prepared.n_text_units,
        "unit_grid_rows": int(prepared.unit_grid.shape[0]),
        "unit_grid_cols": int(prepared.unit_grid.shape[1]),
        "unit_grid": prepared.unit_grid.ravel().astype(int).tolist(),
        "text_units": [prepared.query_text[a:b] for a, b in prepared.layout.query_spans],
    }
    try:
        target = adapter.generate_target(prepared)
    except Exception as error:  # noqa: BLE001
        return failed("generate", _error(error))
    base |= {"response": target.response, "answer": target.answer, "correct": target.correct}
    if "redundancy" in metrics:
        try:
            profile = redundancy_profile(adapter.game(prepared, target))
        except Exception as error:  # noqa: BLE001
            return failed("redundancy", _error(error))
        base |= {
            "v_full": profile.full,
            "v_image_only": profile.image_only,
            "v_text_only": profile.text_only,
            "v_empty": profile.empty,
            "modality_dividend": profile.dividend,
        }

    rows = []
    for name, explainer in explainers.items():
        record = dict(base, explainer=name)
        try:
            attribution = explainer.explain(adapter, prepared, target)
        except Exception as error:  # noqa: BLE001
            rows.append(record | {"status": "failed", "stage": "explain", "message": _error(error)})
            continue
        record |= {
            "image_scores": attribution.image_scores.tolist(),
            "text_scores": attribution.text_scores.tolist(),
            "explain_seconds": attribution.seconds,
            "explain_model_calls": attribution.model_calls,
        }
        try:
            record |= _metric_values(lambda: adapter.game(prepared, target), attribution, metrics, steps, with_sii, background_players, seed)
        except Exception as error:  # noqa: BLE001
            rows.append(record | {"status": "failed", "stage": "metrics", "message": _error(error)})
            continue
        # probes re-explain changed inputs, which needs a white-box adapter (black-box ones have no `modified`);
        # a probe failure leaves the row's metrics valid: it is recorded beside them
        if probes is not None and metrics & {"influence", "stability"} and hasattr(adapter, "modified"):
            try:
                record |= _probe_values(adapter, explainer, prepared, target, attribution, metrics, probes, seed)
            except Exception as error:  # noqa: BLE001
                record["probe_message"] = _error(error)
        rows.append(record | {"status": "ok"})
    return rows


def _probe_values(adapter, explainer, prepared, target, attribution, metrics, probes, seed) -> dict[str, Any]:
    from synfaith.runs.probes import influence_probe, stability_probe

    start = time.perf_counter()
    values: dict[str, Any] = {}
    if "influence" in metrics:
        influence = influence_probe(adapter, explainer, prepared, target, attribution)
        values |= {
            "influence_text_without_image": influence.text_without_image,
            "influence_image_without_text": influence.image_without_text,
        }
    if "stability" in metrics:
        stability = stability_probe(adapter, explainer, prepared, target, attribution, seed=seed, **probes)
        values |= {"stability_spearman": stability.spearman, "stability_top_k": stability.top_k_overlap, "stability_draws": stability.draws}
    return values | {"probe_seconds": time.perf_counter() - start}


def _metric_values(new_game, attribution, metrics, steps, with_sii, background_players, seed) -> dict[str, Any]:
    """Each metric on a fresh game (cold cache), so its evaluations and seconds are its own cost."""
    image, text = attribution.image_scores, attribution.text_scores
    values: dict[str, Any] = {}
    if "fsyn" in metrics:
        start = time.perf_counter()
        fsyn = synergistic_faithfulness(new_game(), image, text, steps)
        values |= {
            "fsyn": fsyn.score,
            "fsyn_deletion": fsyn.deletion,
            "fsyn_insertion": fsyn.insertion,
            "fsyn_deletion_curve": fsyn.deletion_dividends.tolist(),
            "fsyn_insertion_curve": fsyn.insertion_dividends.tolist(),
            "fsyn_seconds": time.perf_counter() - start,
            "fsyn_evaluations": fsyn.evaluations,
        }
    if "unimodal" in metrics:
        start = time.perf_counter()
        unimodal = unimodal_faithfulness(new_game(), image, text, steps)
        values |= {"unimodal_seconds": time.perf_counter() - start, "unimodal_evaluations": unimodal.evaluations}
        for prefix, curves in (("visual", unimodal.visual), ("textual", unimodal.textual)):
            values |= {
                f"{prefix}_deletion": curves.deletion,
                f"{prefix}_insertion": curves.insertion,
                f"{prefix}_srg": curves.srg,
                f"{prefix}_deletion_curve": curves.deletion_curve.tolist(),
                f"{prefix}_insertion_curve": curves.insertion_curve.tolist(),
            }
    if "sii" in metrics and with_sii:
        start = time.perf_counter()
        sii = sii_ground_truth(new_game(), image, text, steps, background_players=background_players, seed=seed)
        values |= {
            "sii": sii.score,
            "sii_moebius": sii.moebius,
            "sii_per_step": sii.per_step.tolist(),
            "sii_seconds": time.perf_counter() - start,
            "sii_evaluations": sii.evaluations,
        }
    return values
