"""``synfaith.explain``: one image and question, every chosen explainer, each scored with F_syn.

The instance goes through the one per-instance pipeline every run uses
(:func:`~synfaith.runs.pipeline.score_instance`): the model's greedy answer is the target, one
game (one coalition cache) serves every explainer and metric, and the metrics are the
modality dividend Δ (``redundancy``), the unimodal deletion / insertion / SRG (``unimodal``)
and F_syn (``fsyn``) — never the exact SII, which costs ≈35× F_syn's evaluations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from synfaith.api.explanation import Explanation, ExplainerResult

# Δ of the instance, then per explainer the unimodal scores and F_syn (never the exact SII)
EXPLAIN_METRICS = ("redundancy", "unimodal", "fsyn")
# MultiSHAP's budget here: 512 coalition evaluations (a run's default is 2048), seconds on the toy VLM
EXPLAIN_OPTIONS: dict[str, dict[str, Any]] = {"multishap": {"budget": 512}}


def default_explainers(capabilities: Sequence[str] = ("game", "white_box", "attention", "image_tokens"), ground_truth: bool = False) -> list[str]:
    """The explainers :func:`explain` runs by default: the paper's nine that a model with ``capabilities``
    can serve, then MultiSHAP (game access only), and the Oracle first when the instance has ground truth."""
    from synfaith.explainers.registry import PAPER_EXPLAINERS, supported_explainers

    names = [*supported_explainers(PAPER_EXPLAINERS, capabilities), "multishap"]
    return (["oracle"] if ground_truth else []) + names


def _instance(image, question: str | None, choices, answer: str | None, instance_id: str):
    """An :class:`~synfaith.data.Instance` from an instance, an image path, bytes, a PIL image or a uint8 array."""
    from synfaith.data.images import DEFAULT_PIXEL_BUDGET, check_size, open_image
    from synfaith.data.instance import Instance

    if isinstance(image, Instance):
        if question is not None or choices is not None or answer is not None:
            raise ValueError("explain: give either an Instance or an image with question=…, choices=…, answer=…, not both")
        return image
    if question is None or not isinstance(question, str) or not question.strip():
        raise ValueError(f"explain: question must be a non-empty string, got {question!r}")
    if isinstance(image, (str, os.PathLike, bytes, bytearray)):
        image = open_image(image if isinstance(image, (bytes, bytearray)) else os.fspath(image), what="image")
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"explain: an image array must be uint8[H, W, 3] (RGB), got {image.dtype}{list(image.shape)}")
        image = Image.fromarray(image, "RGB")
    elif isinstance(image, Image.Image):
        check_size(*image.size, DEFAULT_PIXEL_BUDGET, "image")
        image = image.convert("RGB")
    else:
        raise ValueError(f"explain: image must be a path, bytes, a PIL image, a uint8[H, W, 3] array or an Instance, got {type(image).__name__}")
    if choices is not None:
        if isinstance(choices, str):
            raise ValueError(f"explain: choices must be a list of strings (e.g. ['red', 'blue']), got the string {choices!r}")
        choices = tuple(choices)
        if not 2 <= len(choices) <= 26 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ValueError(f"explain: choices must be 2 to 26 non-empty strings, got {list(choices)!r}")
    return Instance(instance_id, image, question, choices=choices, answer=answer)


def _model(model, device: str, model_options: Mapping[str, Any] | None):
    """``(adapter, label)``: a loaded model as given, or one loaded by name, path or endpoint URL."""
    if not isinstance(model, (str, os.PathLike)):
        if not callable(getattr(model, "prepare", None)) or not callable(getattr(model, "game", None)):
            raise ValueError(f"explain: model must be a name ('toy'), a checkpoint path, an endpoint URL or a loaded model, got {type(model).__name__}")
        name = str(getattr(model, "name", "") or type(model).__name__)
        from synfaith.models.loading import toy_checkpoint

        if name and os.path.realpath(name) == os.path.realpath(toy_checkpoint()):
            return model, "toy"  # load_model("toy") names the adapter by the checkpoint's folder
        return model, name.rstrip("/").rsplit("/", 1)[-1]
    from synfaith.models.loading import load_model
    from synfaith.secrets import url_credentials

    adapter = load_model(model, device=device, **dict(model_options or {}))
    return adapter, url_credentials(os.fspath(model))[0].rstrip("/").rsplit("/", 1)[-1]


def _explainers(names, capabilities, ground_truth: bool, seed: int) -> dict[str, Any]:
    """Explainer instances by name: the options given (or :data:`EXPLAIN_OPTIONS`), the seed filled in."""
    from synfaith.contracts import missing_capabilities, needs_phrase
    from synfaith.explainers.registry import EXPLAINERS, get_explainer
    from synfaith.options import options_model

    if names is None:
        names = default_explainers(capabilities, ground_truth)
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    specs = dict(names) if isinstance(names, Mapping) else {str(n).strip(): None for n in names}
    if not specs:
        raise ValueError("explain: no explainers given; name at least one (see `synfaith explainers list`)")
    built = {}
    for name, options in specs.items():
        explainer_class = EXPLAINERS[name]  # a RegistryError (a KeyError) lists the known names
        missing = missing_capabilities(explainer_class.requires, capabilities)
        if missing:
            raise ValueError(f"explainer {name!r} needs {needs_phrase(missing)}, which this model does not have; drop it")
        options = dict(EXPLAIN_OPTIONS.get(name, {}) if options is None else options)
        if "seed" in options_model(explainer_class).model_fields:
            options.setdefault("seed", seed)
        built[name] = get_explainer(name, **options)
    return built


def explain(
    model,
    image,
    question: str | None = None,
    *,
    choices: Sequence[str] | None = None,
    answer: str | None = None,
    explainers: Sequence[str] | Mapping[str, Mapping[str, Any]] | str | None = None,
    steps: int = 11,
    blur: float = 0.125,
    seed: int = 0,
    device: str = "auto",
    model_options: Mapping[str, Any] | None = None,
    instance_id: str = "explain",
) -> Explanation:
    """Explain one image and question with several explainers and score each one on it.

    The model's greedy answer is the target; every explainer's ranking is scored by F_syn
    (F_syn = (F_del + F_ins)/2, the mean 2-player Harsanyi dividend of its top image and text
    units along t_k = k/(K−1)), by the unimodal deletion / insertion / SRG, and the instance by
    its modality dividend Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅).

    Args:
        model: ``"toy"``, a checkpoint path, a hub name, an ``http(s)://`` endpoint (loaded with
            :func:`synfaith.load_model`), or a model loaded already (reuse it across calls).
        image: a path, bytes, a PIL image, a uint8[H, W, 3] array, or an
            :class:`~synfaith.data.Instance` (then its question, choices, answer and ground truth
            are used and ``question``/``choices``/``answer`` must not be given).
        question: the question.
        choices: answer options of a multiple-choice question (letters A, B, … in order).
        answer: the reference answer (``"yes"``/``"no"`` or a choice letter), to mark the model right or wrong.
        explainers: registry names, a comma-separated string, or ``{name: options}``; default
            :func:`default_explainers` (the paper's nine the model supports and MultiSHAP with
            budget 512; the Oracle too when the instance has ground truth).
        steps: K of the step grid.
        blur: the visual zero-state's blur radius, a fraction of the image's longer side.
        seed: seeds explainers that sample (Random, MultiSHAP).
        device, model_options: how a model given by name is loaded (``batch_size``, adapter options).
        instance_id: the id the instance gets.

    Returns:
        an :class:`~synfaith.api.explanation.Explanation` (``.plot()``, ``.to_json()``, ``.save(dir)``).

    Raises:
        ValueError: a bad image, question, choice list or explainer; or the instance itself
            cannot be explained (no query tokens, an answer the regex cannot parse) — one line naming
            the stage. An explainer that fails on the instance is not an error: its result holds the reason.
    """
    from synfaith.contracts import ZeroState
    from synfaith.runs.pipeline import MetricPlan, score_instance

    instance = _instance(image, question, choices, answer, instance_id)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"explain: steps (K) must be an integer ≥ 2, got {steps!r}")
    adapter, label = _model(model, device, model_options)
    capabilities = tuple(getattr(adapter, "capabilities", ("game",)))
    built = _explainers(explainers, capabilities, instance.ground_truth is not None, seed)
    plan = MetricPlan.build(EXPLAIN_METRICS, {"steps": steps}, seed=seed, zero_state=ZeroState(blur=blur))
    rows = score_instance(adapter, instance, explainers=built, plan=plan, model_label=label, dataset_label="explain")
    first = rows[0]
    if first.get("status") == "failed" and first.get("stage") != "explain" and first.get("stage") != "metrics":
        raise ValueError(f"cannot explain this instance: stage {first['stage']}: {first['message']}")
    truth = instance.ground_truth
    shape = (int(first["unit_grid_rows"]), int(first["unit_grid_cols"]))
    return Explanation(
        model=label,
        instance_id=instance.id,
        question=instance.question,
        choices=instance.choices,
        response=str(first["response"]),
        answer=str(first["answer"]),
        reference_answer=instance.answer,
        correct=first.get("correct"),
        tokens=tuple(first["text_units"]),
        unit_grid=np.asarray(first["unit_grid"], dtype=int).reshape(shape),
        steps=steps,
        instance={k: first.get(k) for k in ("v_full", "v_image_only", "v_text_only", "v_empty", "modality_dividend")},
        game_evaluations=first.get("instance_evaluations"),
        results=tuple(ExplainerResult.from_row(row, EXPLAIN_METRICS) for row in rows),
        image=np.asarray(instance.load_image()),
        boxes=tuple((b.left, b.top, b.right, b.bottom) for b in truth.boxes) if truth else (),
        deciding=frozenset(w.lower() for w in truth.words) if truth else frozenset(),
    )
