"""The ``synfaith`` command line: a thin layer over the Python API.

Each subcommand is a function that adds its parser; ``main`` dispatches to the handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from synfaith import __version__

Handler = Callable[[argparse.Namespace], int]
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(add_parser: Callable[[argparse._SubParsersAction], None]):
    """Register a function that adds a subcommand parser (and sets ``handler``)."""
    COMMANDS.append(add_parser)
    return add_parser


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
        from synfaith.models.toy import TrainConfig, train, write_model_card

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
        from synfaith.models.toy import default_checkpoint, write_model_card

        path = write_model_card(args.checkpoint or default_checkpoint(), eval_per_cell=args.eval_per_cell)
        print(path.read_text())
        return 0

    card.set_defaults(handler=card_handler)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)


@command
def _explainers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("explainers", help="list the explainers, or compare them on planted ground truth")
    explainer_commands = parser.add_subparsers(title="explainers commands", metavar="COMMAND")
    listing = explainer_commands.add_parser("list", help="the registered explainers with one line each")

    def list_handler(args: argparse.Namespace) -> int:
        from synfaith.explainers import EXPLAINERS

        for name in sorted(EXPLAINERS):
            doc = (EXPLAINERS[name].__doc__ or "").strip().splitlines()
            print(f"{name:22s} {doc[0] if doc else ''}")
        return 0

    listing.set_defaults(handler=list_handler)
    table = explainer_commands.add_parser(
        "table",
        help="F_syn and pointing-game plausibility of every explainer on the toy VLM's synthetic world",
        description="Explains the toy VLM's own answers on synthetic instances with evidence boxes (test split) "
        "with every explainer and writes a markdown table: F_syn, pointing-game hit rates for the image and the "
        "query, time and model calls per explanation, failures.",
    )
    table.add_argument("--subset", default="synergy", help="synthetic subset (default synergy)")
    table.add_argument("--per-cell", type=int, default=20, help="instances per family before the box filter (default 20)")
    table.add_argument("--explainers", default=None, help="comma-separated registry names (default: all of the paper's, Oracle, MultiSHAP)")
    table.add_argument("--steps", type=int, default=11, help="K of F_syn (default 11)")
    table.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped toy VLM)")
    table.add_argument("--out", default=None, help="write the markdown here as well as printing it")

    def table_handler(args: argparse.Namespace) -> int:
        from pathlib import Path

        import torch

        from synfaith.analysis.explainer_table import DEFAULT_EXPLAINERS, compare_on_ground_truth, markdown_table
        from synfaith.data.synthetic import synthetic_instances
        from synfaith.models import load_model
        from synfaith.models.toy import default_checkpoint

        explainers = tuple(args.explainers.split(",")) if args.explainers else DEFAULT_EXPLAINERS
        adapter = load_model(str(args.checkpoint or default_checkpoint()))
        instances = synthetic_instances(args.per_cell, split="test", subsets=(args.subset,))
        summaries = compare_on_ground_truth(adapter, instances, explainers, steps=args.steps)
        command_line = f"synfaith explainers table --subset {args.subset} --per-cell {args.per_cell} --steps {args.steps}"
        lines = [
            f"Produced by `{command_line}` on {adapter.name.rsplit('/', 1)[-1]} ({torch.get_num_threads()} CPU threads). "
            f"{summaries[0].fsyn.__len__() + sum(summaries[0].failures.values())} test-split instances of the "
            f"`{args.subset}` subset that have evidence boxes; the model's own answers; F_syn with K = {args.steps}.",
            "Pointing: the share of explanations whose top visual unit overlaps an evidence box / whose top query "
            "token is a deciding word. Failed: explanations rejected as unrankable (e.g. a map that is zero everywhere).",
            "",
            *markdown_table(summaries),
        ]
        failures = {s.explainer: dict(s.failures) for s in summaries if s.failures}
        if failures:
            lines += ["", "Failure reasons: " + "; ".join(f"{k}: {v}" for k, v in failures.items())]
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text)
        return 0

    table.set_defaults(handler=table_handler)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)


def _run_dir(path: str):
    """``path`` as an existing run directory, or a FileNotFoundError that says so."""
    from pathlib import Path

    if not Path(path).is_dir():
        raise FileNotFoundError(f"run directory not found: {path}")
    return Path(path)


def _key_values(text: str | None) -> dict[str, object]:
    """``"a=1,b=x"`` as ``{"a": 1, "b": "x"}`` (values parsed as YAML scalars)."""
    import yaml

    if not text:
        return {}
    import re

    pairs = {}
    for item in re.split(r",(?![^\[]*\])", text):  # commas inside [..] belong to a list value
        if "=" not in item:
            raise ValueError(f"expected key=value in {text!r}, got {item!r}")
        key, value = item.split("=", 1)
        pairs[key.strip()] = yaml.safe_load(value)
    return pairs


def _task(text: str) -> dict[str, object]:
    """``kind`` or ``kind:VALUE`` (VALUE fills the loader's first option, e.g. a path) as a dataset entry."""
    import inspect

    from synfaith.data import DATASETS

    kind, _, value = text.partition(":")
    entry: dict[str, object] = {"kind": kind}
    if value:
        if kind not in DATASETS:
            raise ValueError(f"unknown dataset {kind!r}; known: {', '.join(sorted(DATASETS))}")
        first = next(iter(inspect.signature(DATASETS[kind]).parameters))
        entry["options"] = {first: value}
    return entry


def run_config_from_args(args: argparse.Namespace):
    """A validated RunConfig from a YAML file and/or lmms-eval-style flags (flags win)."""
    import yaml

    from synfaith.analysis.explainer_table import PAPER_EXPLAINERS
    from synfaith.runs import parse_config

    data: dict = {}
    if args.config:
        from pathlib import Path

        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"run configuration not found: {path}")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if args.model:
        model = {"path": args.model} | _key_values(args.model_args)
        known = {"name", "device", "dtype", "batch_size"}
        model["options"] = {k: model.pop(k) for k in list(model) if k not in known | {"path"}}
        data["models"] = [model]
    elif args.model_args:
        for model in data.get("models", []):
            extra = _key_values(args.model_args)
            model.update({k: v for k, v in extra.items() if k in ("name", "device", "dtype", "batch_size")})
            model.setdefault("options", {}).update({k: v for k, v in extra.items() if k not in ("name", "device", "dtype", "batch_size")})
    if args.tasks:
        data["datasets"] = [_task(t) for t in args.tasks.split(",") if t]
    if args.limit is not None:
        for dataset in data.get("datasets", []):
            dataset["limit"] = args.limit
    if args.explainers:
        data["explainers"] = [{"name": name} for name in args.explainers.split(",") if name]
    elif "explainers" not in data:
        data["explainers"] = [{"name": name} for name in PAPER_EXPLAINERS]
    if args.batch_size is not None:
        for model in data.get("models", []):
            model["batch_size"] = args.batch_size
    if args.seed is not None:
        data["seed"] = args.seed
    if args.output_path:
        data["output_dir"] = args.output_path
    elif "output_dir" not in data and data.get("models") and data.get("datasets"):
        # deterministic, so that the same command resumes the same run
        model = str(data["models"][0].get("name") or data["models"][0]["path"]).rstrip("/").rsplit("/", 1)[-1]
        tasks = "+".join(str(d.get("name") or d["kind"]) for d in data["datasets"])
        data["output_dir"] = f"runs/{model}__{tasks}"
    if args.executor:
        data.setdefault("execution", {})["executor"] = args.executor
    if args.no_progress:
        data.setdefault("execution", {})["progress"] = False
    return parse_config(data, args.config or "(from flags)")


@command
def _run(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a benchmark: models × datasets × explainers × metrics into a resumable run directory",
        description="Runs (or resumes) the benchmark described by CONFIG (YAML) and/or the flags; flags override "
        "the file. Every (model, dataset, instance, explainer) becomes one row of metric values, curves, "
        "attributions, correctness and timings, written as Parquet shards under the output directory. "
        "Re-running the same command skips finished rows.",
    )
    parser.add_argument("config", nargs="?", help="YAML run configuration (e.g. configs/demo.yaml)")
    parser.add_argument("--model", help="model path or hub id ('toy' = the shipped toy VLM); replaces the config's models")
    parser.add_argument("--model_args", help="comma-separated key=value: device, dtype, batch_size, name, adapter options")
    parser.add_argument("--tasks", help="comma-separated datasets: kind or kind:PATH (synthetic, jsonl:data.jsonl, cvbench, …)")
    parser.add_argument("--explainers", help="comma-separated explainer names (default: the paper's nine)")
    parser.add_argument("--limit", type=int, help="instances per dataset")
    parser.add_argument("--batch_size", type=int, help="masked variants per forward pass")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--output_path", help="run directory")
    parser.add_argument("--executor", choices=("local", "ray"), help="where work runs (default: the config's, else local)")
    parser.add_argument("--shard", help="i/n: run only work units i, i+n, … (for SLURM arrays)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--retry-failed", action="store_true", help="run keys whose rows failed again (e.g. after an OOM)")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.runs import parse_shard, run

        config = run_config_from_args(args)
        summary = run(config, shard=parse_shard(args.shard), retry_failed=args.retry_failed)
        print(summary.describe())
        print(f"rows: {summary.run_dir / 'rows'}   report: synfaith report {summary.run_dir}")
        return 0

    parser.set_defaults(handler=handler)


@command
def _report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="analyse a run directory into one self-contained HTML page with figures and CSV tables",
        description="Writes RUN_DIR/report/index.html (or --out): the leaderboard with Wilcoxon tests and a mixed-effects "
        "model, the disagreement of unimodal rankings, F_syn against the exact SII, the redundancy profile, the "
        "efficiency-faithfulness front and qualitative maps; every table also as CSV, every figure as PNG.",
    )
    parser.add_argument("run_dir", help="a run directory written by `synfaith run`")
    parser.add_argument("--out", default=None, help="report directory (default: RUN_DIR/report)")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.report import write_report

        path = write_report(_run_dir(args.run_dir), args.out)
        print(f"report: {path}")
        return 0

    parser.set_defaults(handler=handler)


@command
def _sensitivity(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sensitivity",
        help="F_syn and the explainer ranking as K, blur radius and C vary, reusing a run's attributions",
        description="Re-scores the stored attributions of RUN_DIR (no explainer runs again) with other step grids K, "
        "blur radii of the visual zero-state and numbers C of SII background players; writes CSV tables to "
        "RUN_DIR/sensitivity (or --out) and prints the summary.",
    )
    parser.add_argument("run_dir")
    parser.add_argument("--steps", default="5,11,21", help="K values (default 5,11,21)")
    parser.add_argument("--blur", default="0.0625,0.125,0.25", help="blur radii as fractions of the longer image side")
    parser.add_argument("--background", default="2,4,6,8", help="C values for the SII ground truth (default 2,4,6,8)")
    parser.add_argument("--sii-instances", type=int, default=5, help="instances per model × dataset with SII (default 5)")
    parser.add_argument("--out", default=None)

    def handler(args: argparse.Namespace) -> int:
        from pathlib import Path

        from synfaith.runs.sensitivity import sensitivity_analysis, write_sensitivity

        result = sensitivity_analysis(
            _run_dir(args.run_dir),
            steps_grid=[int(x) for x in args.steps.split(",")],
            blur_fractions=[float(x) for x in args.blur.split(",")],
            background_grid=[int(x) for x in args.background.split(",")],
            sii_instances=args.sii_instances,
        )
        paths = write_sensitivity(result, args.out or Path(args.run_dir) / "sensitivity")
        print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"\n{result.game_evaluations:,} game evaluations, no explainer calls, {result.seconds:.1f} s; tables: {paths[0].parent}")
        return 0

    parser.set_defaults(handler=handler)


@command
def _serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a local model behind a small OpenAI-compatible chat API (for testing black-box runs)",
        description="Starts /v1/chat/completions (logprobs, top_logprobs; vLLM's prompt_logprobs and "
        "continue_final_message), /tokenize and /detokenize for a local checkpoint. One request at a time.",
    )
    parser.add_argument("--model", default="toy", help="checkpoint path or hub id ('toy' = the shipped toy VLM)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.models import load_model
        from synfaith.models.serve import make_server
        from synfaith.models.toy import default_checkpoint

        path = str(default_checkpoint()) if args.model == "toy" else args.model
        server = make_server(load_model(path, device=args.device), args.host, args.port, name=args.model)
        print(f"serving {args.model} at http://{args.host}:{server.server_port}/v1 (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.shutdown()
        return 0

    parser.set_defaults(handler=handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synfaith",
        description="Synergistic faithfulness of post-hoc explainers for vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"synfaith {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"synfaith: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
