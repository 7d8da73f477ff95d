"""Explainers: ``explainer.explain(model, prepared, target) -> Attribution`` (docs/design.md §4).

Built in — classical: ``Random``, ``InputGradients``, ``IntegratedGradients``, ``GradCAM``;
attention-based: ``Rollout``, ``GradRollout``, ``AttnLRP``; VLM-native: ``LLaVACAM``, ``TAM``;
game-theoretic (black-box): ``MultiSHAP``; on the synthetic world ``Oracle`` and
``ReverseOracle`` from planted ground truth. Each declares what it ``requires`` of a model and
its typed options; :func:`get_explainer` builds one by registry name. The classes are imported
on first use (``from synfaith.explainers import MultiSHAP`` works; nothing heavy loads before).
"""

from synfaith.explainers.base import Attribution, AttributionError, Explainer
from synfaith.explainers.registry import EXPLAINERS, get_explainer, register_explainer

_CLASSES = {
    "Random": "random",
    "Oracle": "oracle",
    "ReverseOracle": "reverse_oracle",
    "InputGradients": "input_gradients",
    "IntegratedGradients": "integrated_gradients",
    "GradCAM": "gradcam",
    "LLaVACAM": "llava_cam",
    "Rollout": "rollout",
    "GradRollout": "grad_rollout",
    "AttnLRP": "attnlrp",
    "TAM": "tam",
    "MultiSHAP": "multishap",
}


def __getattr__(name: str):
    if name in _CLASSES:
        return EXPLAINERS[_CLASSES[name]]
    raise AttributeError(f"module 'synfaith.explainers' has no attribute {name!r}")


__all__ = ["EXPLAINERS", "Attribution", "AttributionError", "Explainer", "get_explainer", "register_explainer", *_CLASSES]
