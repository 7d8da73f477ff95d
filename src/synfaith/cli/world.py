"""Commands of the embedded world: ``demo``, ``data synth``, ``toy train`` / ``toy card``."""

from __future__ import annotations

import argparse

from synfaith.cli.commands import command


@command
def _demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="score oracle, random and reversed rankings on analytic games and on the shipped toy VLM",
        description=(
            "Runs unimodal deletion/insertion, F_syn and the exact SII ground truth on the AND "
            "(synergy), OR (redundancy), XOR and additive games, then F_syn and unimodal deletion of the "
            "Oracle, Random and reversed Oracle on the toy VLM's synergy and redundant instances."
        ),
    )
    parser.add_argument("--image-units", type=int, default=16, help="visual units m (default 16)")
    parser.add_argument("--text-units", type=int, default=6, help="text units n (default 6)")
    parser.add_argument("--steps", type=int, default=11, help="K, points of the step grid (default 11)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random ranking and SII shuffles")
    parser.add_argument(
        "--toy-instances", type=int, default=30, help="instances per subset for the toy-VLM part (0 skips it; default 30)"
    )

    def handler(args: argparse.Namespace) -> int:
        from synfaith.demo import analytic_demo, format_table, toy_demo

        print("1. Analytic games with known answers\n")
        print(format_table(analytic_demo(args.image_units, args.text_units, args.steps, args.seed)))
        if args.toy_instances > 0:
            print("\n2. The shipped toy VLM on the synthetic world (planted evidence)\n")
            print(toy_demo(args.toy_instances))
        return 0

    parser.set_defaults(handler=handler)


@command
def _data(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="datasets: write the synthetic world to disk")
    data_commands = parser.add_subparsers(title="data commands", metavar="COMMAND")
    synth = data_commands.add_parser(
        "synth",
        help="write synthetic-world instances as PNG + JSONL",
        description="Generate a balanced, seeded split of the synthetic world (existence, counting, relation × "
        "synergy, redundant, prior) and write images/*.png and instances.jsonl with planted ground truth.",
    )
    synth.add_argument("--out", required=True, help="output directory")
    synth.add_argument("--per-cell", type=int, default=20, help="instances per (family, subset) (default 20)")
    synth.add_argument("--split", default="test", choices=("train", "validation", "test"))
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--probes", action="store_true", help="also write the prior-conflict probe subset")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.data.synthetic import PROBE_SUBSETS, SUBSETS, synthetic_instances, write_synthetic

        subsets = SUBSETS + PROBE_SUBSETS if args.probes else SUBSETS
        instances = synthetic_instances(args.per_cell, split=args.split, seed=args.seed, subsets=subsets)
        path = write_synthetic(args.out, instances)
        print(f"wrote {len(instances)} instances to {path}")
        return 0

    synth.set_defaults(handler=handler)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)


@command
def _toy(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("toy", help="the embedded toy VLM: train it, evaluate it, write its model card")
    toy_commands = parser.add_subparsers(title="toy commands", metavar="COMMAND")
    train = toy_commands.add_parser(
        "train",
        help="train the toy VLM from scratch on CPU (deterministic)",
        description="Train the toy LLaVA on the synthetic world and save it (with training_log.json and MODEL_CARD.md).",
    )
    train.add_argument("--out", required=True, help="checkpoint directory to write")
    train.add_argument("--steps", type=int, default=None, help="optimiser steps (default: the shipped model's)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2, help="torch CPU threads (results depend on it)")
    train.add_argument("--eval-per-cell", type=int, default=100, help="test instances per cell for the model card")

    def train_handler(args: argparse.Namespace) -> int:
        from synfaith.toy import TrainConfig, train, write_model_card

        config = TrainConfig(seed=args.seed, threads=args.threads)
        if args.steps is not None:
            config.steps = args.steps
        report = train(args.out, config)
        print(f"trained in {report.seconds / 60:.1f} min; card: {write_model_card(args.out, eval_per_cell=args.eval_per_cell)}")
        return 0

    train.set_defaults(handler=train_handler)
    card = toy_commands.add_parser("card", help="evaluate a toy checkpoint and (re)write its MODEL_CARD.md")
    card.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped toy VLM)")
    card.add_argument("--eval-per-cell", type=int, default=100)

    def card_handler(args: argparse.Namespace) -> int:
        from synfaith.toy import default_checkpoint, write_model_card

        path = write_model_card(args.checkpoint or default_checkpoint(), eval_per_cell=args.eval_per_cell)
        print(path.read_text())
        return 0

    card.set_defaults(handler=card_handler)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
