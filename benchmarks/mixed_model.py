"""Time the leaderboard's mixed-effects model at the paper's full scale.

100k rows: 3 models × 3 datasets × 10 explainers × ~1,111 instances per dataset (3,333 in all),
planted explainer effects; prints the fit time and the largest error of the recovered effects.

    python benchmarks/mixed_model.py [--instances-per-dataset 1111]
"""

from __future__ import annotations

import argparse

from synfaith.analysis.leaderboard import fit_mixed_model
from synfaith.analysis.simulate import simulated_rows

EFFECTS = {
    "random": 0.0, "input_gradients": 0.01, "integrated_gradients": 0.02, "gradcam": 0.015, "rollout": 0.05,
    "grad_rollout": 0.04, "attnlrp": 0.06, "llava_cam": 0.01, "tam": 0.005, "multishap": 0.03,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances-per-dataset", type=int, default=1111)
    args = parser.parse_args()
    rows = simulated_rows(EFFECTS, instances_per_dataset=args.instances_per_dataset, seed=0)
    result = fit_mixed_model(rows)
    errors = {e: abs(c - EFFECTS[e]) for e, c in zip(result.table.explainer, result.table.coefficient)}
    print(f"{len(rows):,} rows, {result.groups:,} groups: fitted in {result.seconds:.1f} s ({result.method})")
    print(f"largest error of a recovered explainer effect: {max(errors.values()):.4f}; converged: {result.converged}")
    for note in result.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
