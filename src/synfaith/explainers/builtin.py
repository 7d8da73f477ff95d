"""The built-in explainers; importing this module registers them (one line each)."""

from synfaith.explainers.oracle import Oracle, ReverseOracle
from synfaith.explainers.random_baseline import Random

__all__ = ["Oracle", "Random", "ReverseOracle"]
