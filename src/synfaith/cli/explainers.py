"""Commands over the registries: ``explainers list`` / ``explainers table``, ``metrics list`` (and ``run --tasks list``)."""

from __future__ import annotations

import argparse

from synfaith.cli.commands import command
from synfaith.plugins import add_plugin_arguments, load_plugins, plugin_lists


def print_datasets() -> int:
    """Print every registered dataset kind (plugins included) with its options and one line of doc."""
    import inspect

    from synfaith.data import DATASETS

    print(f"{'task':14s} description; options")
    for name in DATASETS.names():
        loader = DATASETS[name]
        doc = (loader.__doc__ or "").strip().splitlines()
        options = ", ".join(
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in inspect.signature(loader).parameters.values()
        )
        print(f"{name:14s} {doc[0].rstrip('.') if doc else ''}; options: {options or 'none'}")
    print("\nuse: --tasks KIND or KIND:VALUE (VALUE fills the first option, e.g. jsonl:data.jsonl); several comma-separated")
    return 0


def print_metrics() -> int:
    """Print every registered metric (plugins included) with its needs, settings and columns."""
    from synfaith.metrics import get_metric, metric_names

    for name in metric_names():
        metric = get_metric(name)
        needs = ", ".join(sorted(metric.needs)) or "nothing"
        print(f"{name:12s} {metric.scope:12s} needs {needs}: {metric.description}")
        if metric.settings:
            print(f"{'':12s} settings: " + ", ".join(f"{k}={info.default!r}" for k, (_, info) in metric.settings.items()))
        print(f"{'':12s} columns: " + ", ".join(c.name for c in metric.all_columns()))
    return 0


@command
def _explainers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("explainers", help="list the explainers, or compare them on planted ground truth")
    explainer_commands = parser.add_subparsers(title="explainers commands", metavar="COMMAND")
    listing = explainer_commands.add_parser("list", help="the registered explainers with one line each")
    add_plugin_arguments(listing)

    def list_handler(args: argparse.Namespace) -> int:
        from synfaith.explainers import EXPLAINERS

        load_plugins(*plugin_lists(args))
        lines = []
        for name in EXPLAINERS.names():
            explainer = EXPLAINERS[name]
            doc = (explainer.description or explainer.__doc__ or "").strip().splitlines()
            lines.append((name, ", ".join(sorted(explainer.requires)) or "nothing", doc[0] if doc else ""))
        width = max(len("requires"), *(len(requires) for _, requires, _ in lines))
        print(f"{'name':22s} {'requires':{width}s} description")
        for name, requires, description in lines:
            print(f"{name:22s} {requires:{width}s} {description}")
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
    add_plugin_arguments(table)

    def table_handler(args: argparse.Namespace) -> int:
        from pathlib import Path

        import torch

        from synfaith.analysis.explainer_table import markdown_table, summarise_planted
        from synfaith.data.synthetic import synthetic_instances
        from synfaith.explainers.registry import DEFAULT_EXPLAINERS
        from synfaith.models import load_model
        from synfaith.runs.planted import planted_rows

        load_plugins(*plugin_lists(args))
        explainers = tuple(args.explainers.split(",")) if args.explainers else DEFAULT_EXPLAINERS
        adapter = load_model(str(args.checkpoint or "toy"))
        instances = [i for i in synthetic_instances(args.per_cell, split="test", subsets=(args.subset,)) if i.ground_truth is not None and i.ground_truth.boxes]
        rows = planted_rows(adapter, instances, explainers, ("fsyn", "pointing"), steps=args.steps, label="explainers × instances")
        summaries = summarise_planted(rows, explainers)
        command_line = f"synfaith explainers table --subset {args.subset} --per-cell {args.per_cell} --steps {args.steps}"
        lines = [
            f"Produced by `{command_line}` on {str(adapter.name).rstrip('/').rsplit('/', 1)[-1]} ({torch.get_num_threads()} CPU threads). "
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


@command
def _metrics(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("metrics", help="list the registered metrics, their settings and columns")
    metric_commands = parser.add_subparsers(title="metrics commands", metavar="COMMAND")
    listing = metric_commands.add_parser("list", help="every registered metric (plugins included) with its needs, settings and columns")
    add_plugin_arguments(listing)

    def list_handler(args: argparse.Namespace) -> int:
        load_plugins(*plugin_lists(args))
        return print_metrics()

    listing.set_defaults(handler=list_handler)
    parser.set_defaults(handler=lambda args: parser.print_help() or 0)
