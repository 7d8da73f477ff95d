"""Wall time of one F_syn evaluation through each model adapter: batched vs the paper's loop.

For every architecture (tiny random-weight twins built offline by default, or real
checkpoints given with --checkpoint), prepares one instance and times F_syn (6K + 2
coalitions) with the game's batched path against one coalition per forward pass. This is a
benchmark, not a test: `python benchmarks/adapter_game_cost.py [--checkpoint DIR ...]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from synfaith.data import Instance
from synfaith.metrics import synergistic_faithfulness
from synfaith.models import load_model
from synfaith.testing.twins import ARCHS, build_twin


def _time_fsyn(adapter, prepared, target, batch_size: int, steps: int, repeats: int) -> tuple[float, int, int]:
    rng = np.random.default_rng(0)
    image_scores = rng.normal(size=prepared.n_image_units)
    text_scores = rng.normal(size=prepared.n_text_units)
    best = float("inf")
    for _ in range(repeats):
        game = adapter.game(prepared, target, batch_size=batch_size)
        start = time.perf_counter()
        synergistic_faithfulness(game, image_scores, text_scores, steps=steps)
        best = min(best, time.perf_counter() - start)
    return best, game.evaluations, game.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", help="checkpoint dir or name (repeatable); default: tiny twins")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, nargs=2, default=(336, 336), metavar=("W", "H"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        checkpoints = args.checkpoint or [str(build_twin(arch, Path(scratch) / arch)) for arch in ARCHS]
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 256, (args.image_size[1], args.image_size[0], 3), dtype=np.uint8))
        instance = Instance("bench", image, "Is there a red circle to the left of the blue square?")
        print(f"device {args.device}, torch threads {torch.get_num_threads()}, image {args.image_size}, K = {args.steps}")
        print(f"{'model':<14} {'units m×n':>10} {'evals':>6} {'batched s':>10} {'calls':>6} {'loop s':>9} {'loop/batched':>13}")
        for checkpoint in checkpoints:
            adapter = load_model(checkpoint, device=args.device)
            prepared = adapter.prepare(instance)
            target = adapter.make_target(prepared, "Yes")
            batched, evaluations, calls = _time_fsyn(adapter, prepared, target, args.batch_size, args.steps, args.repeats)
            looped, _, _ = _time_fsyn(adapter, prepared, target, 1, args.steps, args.repeats)
            model_type = adapter.model.config.model_type
            units = f"{prepared.n_image_units}×{prepared.n_text_units}"
            print(f"{model_type:<14} {units:>10} {evaluations:>6} {batched:>10.3f} {calls:>6} {looped:>9.3f} {looped / batched:>12.1f}x")


if __name__ == "__main__":
    main()
