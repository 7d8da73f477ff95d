"""``synfaith explain``: one image and question, every chosen explainer side by side with its F_syn.

A thin layer over :func:`synfaith.explain` (:mod:`synfaith.api.explaining`): it reads the
image (through the pixel budget of :func:`~synfaith.data.images.open_image`), explains it,
writes ``OUT/explain.png`` and ``OUT/explain.json`` and prints one line per explainer.
"""

from __future__ import annotations

import argparse

from synfaith.cli.commands import command
from synfaith.plugins import add_plugin_arguments


def parse_choices(text: str | None) -> tuple[str, ...] | None:
    """``"red|blue|green"`` as ``("red", "blue", "green")``; a ValueError naming ``--choices`` unless 2 to 26 non-empty options."""
    if text is None:
        return None
    choices = tuple(part.strip() for part in text.split("|"))
    if not 2 <= len(choices) <= 26 or not all(choices):
        raise ValueError(f"--choices needs 2 to 26 non-empty options separated by '|' (e.g. --choices \"red|blue|green\"), got {text!r}")
    return choices


@command
def _explain(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain one image + question with every chosen explainer, maps side by side with their F_syn",
        description="Runs the model on one image and question; its greedy answer is the target. Every chosen "
        "explainer's map is scored with F_syn (and its deletion/insertion halves), the unimodal deletion / "
        "insertion / SRG, and the instance with its modality dividend Δ; the exact SII is not computed. Writes "
        "OUT/explain.png (each map over a greyscale copy of the image, the query tokens as a heat strip, F_syn "
        "and the unimodal scores under each map) and OUT/explain.json (per explainer: F_syn, its halves and "
        "curves, unimodal scores, unit scores, cost). Default explainers: the paper's nine that the model "
        "supports (random, integrated_gradients, input_gradients, gradcam, rollout, grad_rollout, attnlrp, "
        "llava_cam, tam) and MultiSHAP with budget=512 (a run's default is 2048).",
    )
    parser.add_argument("--model", default="toy", help="model path, hub id or endpoint URL (default: toy, the shipped toy VLM)")
    parser.add_argument("--model_args", help="comma-separated key=value: batch_size, dtype and adapter options (e.g. model=NAME for an endpoint)")
    parser.add_argument("--image", required=True, help="the image file")
    parser.add_argument("--question", required=True, help="the question, e.g. \"Is there a red circle?\"")
    parser.add_argument("--choices", default=None, metavar="A|B|C",
                        help="answer options separated by '|': a multiple-choice question (the model answers with a letter)")
    parser.add_argument("--answer", default=None, help="the reference answer (yes/no or a choice letter), to mark the model's answer right or wrong")
    parser.add_argument("--explainers", default=None, metavar="a,b,…", help="comma-separated explainer names (default: see above; "
                        "`synfaith explainers list` lists them)")
    parser.add_argument("--steps", type=int, default=11, help="K, points of the step grid t_k = k/(K−1) (default 11)")
    parser.add_argument("--blur", type=float, default=0.125, help="visual zero-state blur radius, a fraction of the image's longer side (default 0.125)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling explainers (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--out", default="explain", metavar="DIR", help="output folder (default: ./explain)")
    add_plugin_arguments(parser)

    def handler(args: argparse.Namespace) -> int:
        from pathlib import Path

        from synfaith.api.explaining import explain
        from synfaith.cli.flags import _key_values
        from synfaith.data.images import open_image
        from synfaith.plugins import load_plugins, plugin_lists

        load_plugins(*plugin_lists(args))  # before any registry is read: plugin explainers and adapters
        choices = parse_choices(args.choices)
        if args.steps < 2:
            raise ValueError(f"--steps must be at least 2, got {args.steps}")
        if not args.blur >= 0:
            raise ValueError(f"--blur must be a fraction ≥ 0 of the image's longer side (e.g. 0.125), got {args.blur}")
        image = open_image(Path(args.image), what=f"--image {args.image}")
        options = _key_values(args.model_args)
        explainers = [name.strip() for name in args.explainers.split(",") if name.strip()] if args.explainers else None
        if explainers is not None and not explainers:
            raise ValueError("--explainers names no explainer; give comma-separated names (see `synfaith explainers list`)")
        explanation = explain(args.model, image, args.question, choices=choices, answer=args.answer, explainers=explainers,
                              steps=args.steps, blur=args.blur, seed=args.seed, device=args.device, model_options=options)
        png, data = explanation.save(args.out)
        print(explanation.describe())
        print(f"figure: {png}   scores: {data}")
        return 0

    parser.set_defaults(handler=handler)
