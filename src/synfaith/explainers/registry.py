"""Explainers by name: a new explainer is one module and one registration.

Built-in entries are lazy (imported when first used). :func:`get_explainer` validates the
options against the explainer's declared, typed options before building it, so a mistyped
option is an :class:`ExplainerOptionError` naming the option — and an error raised inside an
explainer's constructor is reported as itself, never as "unknown explainer".
"""

from __future__ import annotations

from synfaith.registry import Registry

_BUILTIN = "synfaith.explainers"
EXPLAINERS: Registry[type] = Registry(
    "explainer",
    {
        "random": f"{_BUILTIN}.random_baseline:Random",
        "oracle": f"{_BUILTIN}.oracle:Oracle",
        "reverse_oracle": f"{_BUILTIN}.oracle:ReverseOracle",
        "precomputed": f"{_BUILTIN}.precomputed:Precomputed",
        "input_gradients": f"{_BUILTIN}.gradients:InputGradients",
        "integrated_gradients": f"{_BUILTIN}.gradients:IntegratedGradients",
        "gradcam": f"{_BUILTIN}.cam:GradCAM",
        "llava_cam": f"{_BUILTIN}.cam:LLaVACAM",
        "rollout": f"{_BUILTIN}.attention:Rollout",
        "grad_rollout": f"{_BUILTIN}.attention:GradRollout",
        "attnlrp": f"{_BUILTIN}.attnlrp:AttnLRP",
        "tam": f"{_BUILTIN}.tam:TAM",
        "multishap": f"{_BUILTIN}.multishap:MultiSHAP",
        "fsyn_search": f"{_BUILTIN}.fsyn_search:FsynSearch",
    },
)


# the nine explainers the paper compares, and the default set of the planted-truth table
PAPER_EXPLAINERS = (
    "random",
    "integrated_gradients",
    "input_gradients",
    "gradcam",
    "rollout",
    "grad_rollout",
    "attnlrp",
    "llava_cam",
    "tam",
)
DEFAULT_EXPLAINERS = ("oracle", *PAPER_EXPLAINERS, "multishap")


def supported_explainers(names, capabilities) -> list[str]:
    """The explainers among ``names`` whose ``requires`` a model with ``capabilities`` meets."""
    return [name for name in names if set(EXPLAINERS[name].requires) <= set(capabilities)]


def register_explainer(explainer_class: type) -> type:
    """Class decorator registering an explainer under its ``name``."""
    name = getattr(explainer_class, "name", "")
    if not name:
        raise ValueError(f"{explainer_class.__name__} has no name")
    return EXPLAINERS.register(name, explainer_class)


def get_explainer(name: str, **options):
    """An explainer instance by registry name, with its options (validated first)."""
    from synfaith.explainers.options import validate_options

    explainer_class = EXPLAINERS[name]  # RegistryError lists the known names
    return explainer_class(**validate_options(explainer_class, options))
