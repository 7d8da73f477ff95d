"""The built-in explainers; importing this module registers them (one line each)."""

from synfaith.explainers.attention import GradRollout, Rollout
from synfaith.explainers.attnlrp import AttnLRP
from synfaith.explainers.cam import GradCAM, LLaVACAM
from synfaith.explainers.gradients import InputGradients, IntegratedGradients
from synfaith.explainers.multishap import MultiSHAP
from synfaith.explainers.oracle import Oracle, ReverseOracle
from synfaith.explainers.random_baseline import Random
from synfaith.explainers.tam import TAM

__all__ = [
    "TAM",
    "AttnLRP",
    "GradCAM",
    "GradRollout",
    "InputGradients",
    "IntegratedGradients",
    "LLaVACAM",
    "MultiSHAP",
    "Oracle",
    "Random",
    "ReverseOracle",
    "Rollout",
]
