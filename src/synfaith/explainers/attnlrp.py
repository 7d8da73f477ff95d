"""AttnLRP (Achtibat et al., ICML 2024) with the ``lxt`` library's efficient rules.

Inside the language model, lxt's rules turn the gradient into LRP relevance (the
Gradient × Input framework): RMSNorm without the gradient of its variance (identity rule),
the gated MLP's activation through the identity rule and its gate × up product through the
uniform rule, and attention's query/key/value gradients divided by 4/4/2 (uniform rule on
its matrix products). Relevance starts from the answer tokens' logits and is read at the
LM's input embeddings: ``r_i = Σ_d x_{i,d} · ∂̃ logit / ∂ x_{i,d}`` — image tokens are the
projector's outputs (the paper's setting: the vision tower is not traversed).

``vision_gamma=γ`` continues into the projector and vision tower to the pixels with the
LRP-γ rule on every linear and convolution layer (weights ``W + γW⁺``), the identity rule on
activations and norms, and the uniform rule in vision attention. The paper dropped this
because of NaNs; here NaN relevance is not hidden: :meth:`Explainer.explain` rejects it with
an :class:`AttributionError` that a run records as a failure row.

lxt patches ``transformers`` classes and modules process-wide. :func:`lrp_rules` applies its
rules for the duration of one explanation and restores every original attribute afterwards,
so that no other explainer's gradients change (tested).
"""

from __future__ import annotations

import sys
import types
import warnings
from contextlib import contextmanager

import torch
from torch import nn

from synfaith.explainers.base import Explainer
from synfaith.contracts import IMAGE_TOKENS, WHITE_BOX, Scores
from synfaith.explainers.white_box import answer_logit, embedding_relevance, pixel_scores_to_units, token_scores_to_units

_MISSING = object()
VARIANTS = ("attnlrp", "cp")


def _lxt():
    """``lxt.efficient.patches`` and ``rules``, imported without torchvision.

    Importing ``lxt.efficient`` imports its torchvision-ViT patch map, which needs torchvision
    (not installable beside the CPU torch build, see ENVIRONMENT.md). A stub stands in for it
    during the import only and is removed afterwards, so nothing else can see it.
    """
    if "lxt.efficient.patches" not in sys.modules:
        stubs = {}
        if "torchvision" not in sys.modules:
            vision_transformer = types.ModuleType("torchvision.models.vision_transformer")
            vision_transformer.nn = nn
            models = types.ModuleType("torchvision.models")
            models.vision_transformer = vision_transformer
            stubs = {"torchvision": types.ModuleType("torchvision"), "torchvision.models": models,
                     "torchvision.models.vision_transformer": vision_transformer}
            sys.modules.update(stubs)
        try:
            with warnings.catch_warnings():
                # lxt announces that zennit (its vision-transformer rules) is absent; we do not use them
                warnings.filterwarnings("ignore", message=".*zennit.*")
                import lxt.efficient.patches  # noqa: F401
        except ImportError as error:
            raise ImportError("AttnLRP needs the lxt library: pip install --no-deps 'lxt==2.1'") from error
        finally:
            for name in stubs:
                sys.modules.pop(name, None)
    from lxt.efficient import patches, rules

    return patches, rules


class _Patcher:
    """Sets attributes and remembers the originals, to restore them in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[object, str, object]] = []

    def set(self, owner, name: str, value) -> None:
        self._undo.append((owner, name, owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)))
        setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._undo.clear()


def _is_rms_norm(module: nn.Module) -> bool:
    return hasattr(module, "variance_epsilon") and hasattr(module, "weight") and not isinstance(module, nn.LayerNorm)


def _patch_attention_module(patcher: _Patcher, modeling, wrap) -> None:
    if getattr(modeling, "_synfaith_lrp", False):
        return
    patcher.set(modeling, "_synfaith_lrp", True)
    patcher.set(modeling, "eager_attention_forward", wrap(modeling.eager_attention_forward))
    patcher.set(modeling, "ALL_ATTENTION_FUNCTIONS", {k: wrap(v) for k, v in modeling.ALL_ATTENTION_FUNCTIONS.items()})


@contextmanager
def lrp_rules(model, variant: str = "attnlrp"):
    """lxt's rules on the adapter's language model for the duration of the block.

    ``variant="attnlrp"``: uniform rule through attention (q, k gradients ÷ 4, v ÷ 2) and the
    gate × up product; ``"cp"`` (CP-LRP, Ali et al. 2022): no relevance through the softmax or
    the gate (their inputs are detached), which makes the LM exactly conservative when it has
    no biases — the check that every block of the LM is covered by a rule.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown LRP variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    patches, _ = _lxt()
    cp = variant == "cp"
    patcher = _Patcher()
    try:
        language_model = model.language_model
        done: set[type] = set()
        for module in language_model.modules():
            kind = type(module)
            if kind in done:
                continue
            done.add(kind)
            if _is_rms_norm(module):
                patcher.set(kind, "forward", patches.rms_norm_forward)
            elif hasattr(module, "up_proj") and hasattr(module, "down_proj"):
                if hasattr(module, "gate_proj"):
                    rule = patches.cp_gated_mlp_forward if cp else patches.gated_mlp_forward
                else:
                    rule = patches.mlp_forward
                patcher.set(kind, "forward", rule)
            elif hasattr(module, "o_proj") and hasattr(module, "q_proj"):
                wrap = patches.cp_wrap_attention_forward if cp else patches.wrap_attention_forward
                _patch_attention_module(patcher, sys.modules[kind.__module__], wrap)
        yield
    finally:
        patcher.restore()


class _Hooks:
    def __init__(self) -> None:
        self.handles = []

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def _gamma_output(module, args, output, gamma: float, epsilon: float = 1e-6):
    """``z′ · (z / z′)`` detached: the value of z, the LRP-γ gradient (weights W + γW⁺).

    The denominator is stabilised away from zero (``z′ + ε·sign(z′)``, sign(0) = 1) as in zennit;
    the numerical trouble the paper reports for γ on vision towers can still surface as NaN or
    exploding relevance, which is rejected or recorded, not hidden.
    """
    (x,) = args[:1]
    weight = module.weight + gamma * module.weight.clamp(min=0)
    bias = None if module.bias is None else module.bias + gamma * module.bias.clamp(min=0)
    if isinstance(module, nn.Linear):
        modified = nn.functional.linear(x, weight, bias)
    else:
        modified = module._conv_forward(x, weight, bias)
    stabilised = modified + epsilon * torch.where(modified >= 0, 1.0, -1.0)
    return modified * (output / stabilised).detach()


@contextmanager
def vision_lrp_rules(model, gamma: float):
    """LRP-γ, identity and uniform rules on the projector and vision tower (hooks, removed after)."""
    patches, rules = _lxt()
    hooks, patcher = _Hooks(), _Patcher()
    try:
        for part in (model.vision_tower, model.projector):
            for module in part.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
                    hooks.handles.append(module.register_forward_hook(lambda m, a, o: _gamma_output(m, a, o, gamma)))
                elif isinstance(module, nn.LayerNorm):
                    hooks.handles.append(module.register_forward_hook(lambda m, a, o: patches.layer_norm_forward(m, a[0])))
                elif _is_rms_norm(module):
                    hooks.handles.append(module.register_forward_hook(lambda m, a, o: patches.rms_norm_forward(m, a[0])))
                elif not list(module.children()) and type(module).__name__.lower().endswith(("activation", "gelu", "silu", "act")):
                    hooks.handles.append(
                        module.register_forward_hook(lambda m, a, o: rules.identity_rule_implicit(lambda t: type(m).forward(m, t), a[0]))
                    )
                elif hasattr(module, "q_proj") or hasattr(module, "qkv"):
                    _patch_attention_module(patcher, sys.modules[type(module).__module__], patches.wrap_attention_forward)
        yield
    finally:
        hooks.remove()
        patcher.restore()


class AttnLRP(Explainer):
    """AttnLRP relevance of the answer logits at the LM's input embeddings (lxt rules, undone after).

    Args:
        vision_gamma: None (default, as the paper) stops at the LM's input embeddings; a γ > 0
            continues through the projector and vision tower to the pixels with LRP-γ.
        variant: ``"attnlrp"`` (default) or ``"cp"`` (CP-LRP: no relevance through softmax and gate).
    """

    requires = frozenset({WHITE_BOX, IMAGE_TOKENS})  # reads the LM at the image tokens' positions

    name = "attnlrp"

    def __init__(self, vision_gamma: float | None = None, variant: str = "attnlrp") -> None:
        if vision_gamma is not None and vision_gamma < 0:
            raise ValueError(f"vision_gamma must be ≥ 0 or None, got {vision_gamma}")
        if variant not in VARIANTS:
            raise ValueError(f"unknown LRP variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.vision_gamma = vision_gamma
        self.variant = variant

    def attribute(self, model, prepared, target):
        device, dtype = model.device, model.model.dtype
        sequence = model.sequence_ids(prepared, target).to(device)[None]
        with lrp_rules(model, self.variant):
            if self.vision_gamma is None:
                relevance, score = embedding_relevance(model, prepared, target, answer_logit)
                image_scores, text_scores = token_scores_to_units(prepared, relevance)
                raw = {"token_relevance": relevance.float().cpu().numpy(), "target_logit": float(score)}
                return Scores(image_scores, text_scores, raw, 1)
            with vision_lrp_rules(model, self.vision_gamma):
                pixels = prepared.pixels.clean.to(device, dtype).requires_grad_()
                token_embeds = model.model.get_input_embeddings()(sequence).detach().requires_grad_()
                image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}
                features = model.image_features(pixels, 1, image_inputs)
                embeds = model.write_image_features(token_embeds, features, prepared)
                score = answer_logit(model.forward_embeddings(embeds, sequence, prepared).logits, target).sum()
                pixel_gradient, token_gradient = torch.autograd.grad(score, (pixels, token_embeds))
        token_relevance = (token_embeds.detach() * token_gradient).sum(-1)[0]
        pixel_relevance = pixels.detach() * pixel_gradient
        _, text_scores = token_scores_to_units(prepared, token_relevance)
        image_scores = pixel_scores_to_units(prepared, pixel_relevance)
        raw = {"token_relevance": token_relevance.float().cpu().numpy(), "target_logit": float(score.detach()), "vision_gamma": self.vision_gamma}
        return Scores(image_scores, text_scores, raw, 1)
