"""The benchmark commands: ``run``, ``report``, ``sensitivity``."""

from __future__ import annotations

import argparse

from synfaith.cli.commands import command
from synfaith.cli.flags import batch_size_argument, limit_argument, run_config_from_args, run_dir_argument, run_dir_plugins
from synfaith.plugins import add_plugin_arguments


@command
def _run(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a benchmark: models × datasets × explainers × metrics into a resumable run directory",
        description="Runs (or resumes) the benchmark described by CONFIG (YAML) and/or the flags; flags override "
        "the file. Every (model, dataset, instance, explainer) becomes one row of metric values, curves, "
        "attributions, correctness and timings, written as Parquet shards under the output directory. "
        "Re-running the same command skips finished rows. RUN_DIR/results.json holds the versions, the git hash, "
        "the resolved config and every metric's mean with its 95%% interval, as numbers.",
    )
    parser.add_argument("config", nargs="?", help="YAML run configuration (e.g. configs/demo.yaml)")
    parser.add_argument("--model", help="model path or hub id ('toy' = the shipped toy VLM), or hf with --model_args "
                        "pretrained=NAME_OR_PATH (lmms-eval); replaces the config's models")
    parser.add_argument("--model_args", help="comma-separated key=value: pretrained, device, dtype, batch_size, name, adapter options")
    parser.add_argument("--tasks", help="comma-separated datasets: kind or kind:PATH (synthetic, jsonl:data.jsonl, cvbench, …; default without a config: synthetic)")
    parser.add_argument("--explainers", help="comma-separated explainer names (default: the paper's nine)")
    parser.add_argument("--metrics", help="comma-separated metric names, or list (default in a flag run: every metric but the "
                        "exact SII 'sii', which costs ≈35× F_syn's evaluations and is announced with its cost when asked for)")
    parser.add_argument("--limit", type=limit_argument, help="instances per dataset, or a fraction of each dataset in (0, 1) (0.1 = a tenth)")
    parser.add_argument("--device", help="device of every model: auto, cpu, cuda, cuda:N or mps (as --model_args device=…)")
    parser.add_argument("--batch_size", type=batch_size_argument, help="masked variants per forward pass, or auto (the most that fit in free memory)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--output_path", help="run directory")
    parser.add_argument("--executor", choices=("local", "ray"), help="where work runs (default: the config's, else local)")
    parser.add_argument("--shard", help="i/n: run only work units i, i+n, … (for SLURM arrays)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (an INFO log line per instance instead)")
    parser.add_argument("--log_samples", action="store_true", help="also write RUN_DIR/samples/MODEL__DATASET.jsonl, one line per instance")
    parser.add_argument("--retry-failed", action="store_true", help="run keys whose rows failed again (e.g. after an OOM)")
    parser.add_argument(
        "--rerun-changed",
        action="store_true",
        help="when the run directory holds rows of other settings, run those rows again under the new settings "
        "(the old rows are then ignored) instead of refusing",
    )

    add_plugin_arguments(parser)

    def handler(args: argparse.Namespace) -> int:
        from synfaith.runs import parse_shard, run

        if "list" in (args.tasks, args.metrics):  # lmms-eval's `--tasks list`
            from synfaith.cli.explainers import print_datasets, print_metrics
            from synfaith.plugins import load_plugins, plugin_lists
            from synfaith.runs.config import read_config_file

            load_plugins(*plugin_lists(args, read_config_file(args.config) if args.config else {}))
            return print_datasets() if args.tasks == "list" else print_metrics()
        config = run_config_from_args(args)
        from synfaith.secrets import redact

        summary = run(config, shard=parse_shard(args.shard), retry_failed=args.retry_failed, rerun_changed=args.rerun_changed,
                      log_samples=args.log_samples)
        print(redact(summary.describe()))
        print(redact(f"rows: {summary.run_dir / 'rows'}   results: {summary.results}   report: synfaith report {summary.run_dir}"))
        if summary.samples:
            print(redact(f"samples: {', '.join(str(p) for p in summary.samples)}"))
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
    parser.add_argument("--examples", default=None, metavar="ID,ID",
                        help="instance ids to draw in the qualitative section (default: report.examples in the run config, "
                        "else one instance per stratum)")
    add_plugin_arguments(parser)

    def handler(args: argparse.Namespace) -> int:
        from synfaith.report import write_report

        run_dir = run_dir_argument(args.run_dir)
        run_dir_plugins(args, run_dir)  # before any registry is read: the run's own explainers and metrics
        path = write_report(run_dir, args.out, examples=args.examples)
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
    add_plugin_arguments(parser)

    def handler(args: argparse.Namespace) -> int:
        from pathlib import Path

        from synfaith.runs.sensitivity import sensitivity_analysis, write_sensitivity

        run_dir_plugins(args, run_dir_argument(args.run_dir))
        result = sensitivity_analysis(
            run_dir_argument(args.run_dir),
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
