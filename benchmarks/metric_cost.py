"""Cost of F_syn vs the exact SII ground truth for one (instance, explainer) pair.

The game is backed by a small torch MLP whose forward pass has a realistic fixed per-call
overhead (a wide first layer over all unit embeddings), so batching matters as it does for a
VLM. Prints wall time and model evaluations of each metric, batched and one coalition per
forward pass, and their ratios. This is a benchmark, not a test: run it with `make bench`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synfaith.games import Game
from synfaith.metrics import sii_ground_truth, synergistic_faithfulness


class MLPGame(Game):
    """v(A, B) = sigmoid(MLP(unit embeddings with masked units zeroed))."""

    def __init__(self, n_image: int, n_text: int, width: int, dim: int = 16, seed: int = 0, **options) -> None:
        super().__init__(n_image, n_text, **options)
        generator = torch.Generator().manual_seed(seed)
        self.embeddings = torch.randn(n_image + n_text, dim, generator=generator)
        self.net = torch.nn.Sequential(
            torch.nn.Linear((n_image + n_text) * dim, width),
            torch.nn.GELU(),
            torch.nn.Linear(width, width),
            torch.nn.GELU(),
            torch.nn.Linear(width, 1),
        )
        self.net.eval()

    @torch.inference_mode()
    def _evaluate(self, image_keep: np.ndarray, text_keep: np.ndarray) -> np.ndarray:
        keep = torch.from_numpy(np.concatenate([image_keep, text_keep], axis=1)).float()
        features = (keep[:, :, None] * self.embeddings[None]).flatten(1)
        return torch.sigmoid(self.net(features)).squeeze(1).double().numpy()


def _time(metric, game: Game, a: np.ndarray, b: np.ndarray, **kwargs) -> tuple[float, int]:
    game.clear_cache()
    game.reset_counters()
    start = time.perf_counter()
    metric(game, a, b, **kwargs)
    return time.perf_counter() - start, game.evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-units", type=int, default=576, help="visual units (LLaVA-1.5: 576)")
    parser.add_argument("--text-units", type=int, default=12, help="query tokens")
    parser.add_argument("--width", type=int, default=1024, help="MLP width (sets the per-call cost)")
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=args.image_units), rng.normal(size=args.text_units)
    batched = MLPGame(args.image_units, args.text_units, args.width, batch_size=args.batch_size)
    looped = MLPGame(args.image_units, args.text_units, args.width, batch_size=1)

    results = {}
    for label, metric, game in [
        ("F_syn, batched", synergistic_faithfulness, batched),
        ("F_syn, one coalition per forward", synergistic_faithfulness, looped),
        ("SII ground truth, batched", sii_ground_truth, batched),
        ("SII ground truth, one coalition per forward", sii_ground_truth, looped),
    ]:
        times = [_time(metric, game, a, b, steps=args.steps) for _ in range(args.repeats)]
        results[label] = (min(t for t, _ in times), times[0][1])

    print(f"game: MLP width {args.width}, {args.image_units} visual + {args.text_units} text units, "
          f"K = {args.steps}, batch size {args.batch_size}, torch threads {torch.get_num_threads()}")
    print(f"{'metric':<46} {'seconds':>9} {'evaluations':>12}")
    for label, (seconds, evaluations) in results.items():
        print(f"{label:<46} {seconds:9.4f} {evaluations:12d}")
    fsyn, sii = results["F_syn, batched"], results["SII ground truth, batched"]
    print(f"SII / F_syn (batched): {sii[0] / fsyn[0]:.1f}x time, {sii[1] / fsyn[1]:.1f}x evaluations")
    loop, batch = results["F_syn, one coalition per forward"], results["F_syn, batched"]
    print(f"F_syn one-per-forward / batched: {loop[0] / batch[0]:.1f}x time")


if __name__ == "__main__":
    main()
