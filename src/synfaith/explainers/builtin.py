"""The built-in explainers; importing this module registers them (one line each)."""

from synfaith.explainers.gradients import InputGradients
from synfaith.explainers.oracle import Oracle, ReverseOracle
from synfaith.explainers.random_baseline import Random

__all__ = ["InputGradients", "Oracle", "Random", "ReverseOracle"]
