"""lmms-eval-style flags to a run configuration, and small argument parsers."""

from __future__ import annotations

import argparse
from pathlib import Path


def run_dir_argument(path: str):
    """``path`` as an existing run directory, or a FileNotFoundError that says so."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"run directory not found: {path}")
    return Path(path)


def run_dir_plugins(args: argparse.Namespace, run_dir: Path) -> None:
    """Load the plugins a command on a run directory needs: the flags' (an error if one fails), then
    the ones the run recorded (``include_paths``/``imports`` of RUN_DIR/config.yaml; a warning if
    one cannot be imported here, since the rows can still be read)."""
    import logging

    import yaml

    from synfaith.plugins import PluginError, load_plugins, plugin_lists

    load_plugins(*plugin_lists(args))
    try:
        recorded = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        load_plugins(recorded.get("include_paths") or [], recorded.get("imports") or [])
    except FileNotFoundError:
        return
    except (PluginError, yaml.YAMLError, AttributeError) as error:
        logging.getLogger("synfaith.cli").warning(
            "the run's plugins cannot be loaded here (%s); their explainers and metrics may be missing from the output: "
            "pass --include_path DIR or --imports MODULE", error)


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
    from synfaith.explainers.registry import PAPER_EXPLAINERS, supported_explainers
    from synfaith.models.loading import adapter_class_for
    from synfaith.runs import parse_config
    from synfaith.runs.config import read_config_file

    from synfaith.plugins import load_plugins, plugin_lists

    data: dict = read_config_file(args.config) if args.config else {}
    # plugins first: their datasets and explainers are names the flags below may use
    loaded = load_plugins(*plugin_lists(args, data))
    if loaded.include_paths or loaded.imports:
        data["include_paths"], data["imports"] = list(loaded.include_paths), list(loaded.imports)
    model_args = _key_values(args.model_args)
    model_path = args.model
    if "pretrained" in model_args:  # lmms-eval's spelling of the checkpoint
        model_path = str(model_args.pop("pretrained"))
    elif model_path in LOADER_NAMES and not Path(model_path).exists():
        raise ValueError(
            f"--model {model_path} names a loader, not a checkpoint: give the checkpoint as --model_args "
            f"pretrained=NAME_OR_PATH (lmms-eval's spelling) or as --model NAME_OR_PATH"
        )
    known = ("name", "device", "dtype", "batch_size")
    if model_path:
        model = {"path": model_path} | {k: v for k, v in model_args.items() if k in known}
        model["options"] = {k: v for k, v in model_args.items() if k not in known}
        data["models"] = [model]
    elif model_args:
        for model in data.get("models", []):
            model.update({k: v for k, v in model_args.items() if k in known})
            model.setdefault("options", {}).update({k: v for k, v in model_args.items() if k not in known})
    if args.tasks:
        data["datasets"] = [_task(t) for t in args.tasks.split(",") if t]
    elif not args.config:  # flags alone: the embedded synthetic world, so `run --model toy --limit 2` just works
        data["datasets"] = [{"kind": "synthetic"}]
    if args.limit is not None:
        for dataset in data.get("datasets", []):
            dataset["limit"] = args.limit
    if getattr(args, "device", None):
        for model in data.get("models", []):
            model["device"] = args.device
    metrics = [name for name in (getattr(args, "metrics", None) or "").split(",") if name]
    if metrics:
        data.setdefault("metrics", {})["compute"] = metrics
    elif not args.config and "compute" not in data.get("metrics", {}):
        # a flag run computes the exact SII (≈35× F_syn's evaluations) only when --metrics asks for it,
        # and only the metrics every model of the run can serve (a black-box endpoint: no probes)
        from synfaith.contracts import missing_capabilities
        from synfaith.metrics.registry import get_metric, metric_names

        names = [name for name in metric_names() if name != "sii"]
        for model in data.get("models", []):
            adapter_class = adapter_class_for(model["path"])
            if adapter_class is not None:
                names = [n for n in names if not missing_capabilities(get_metric(n).needs - {"probes"}, adapter_class.capabilities)]
        data.setdefault("metrics", {})["compute"] = names
    if args.explainers:
        data["explainers"] = [{"name": name} for name in args.explainers.split(",") if name]
    elif "explainers" not in data:
        # the paper's explainers that every model of the run can serve (a black-box endpoint: the game-based ones)
        names = list(PAPER_EXPLAINERS)
        for model in data.get("models", []):
            adapter_class = adapter_class_for(model["path"])
            if adapter_class is not None and not set(PAPER_EXPLAINERS) <= set(supported_explainers(PAPER_EXPLAINERS, adapter_class.capabilities)):
                names = [*supported_explainers(names, adapter_class.capabilities), "multishap"]
        data["explainers"] = [{"name": name} for name in dict.fromkeys(names)]
    if args.batch_size is not None:
        for model in data.get("models", []):
            model["batch_size"] = args.batch_size
    if args.seed is not None:
        data["seed"] = args.seed
    if args.output_path:
        data["output_dir"] = args.output_path
    elif "output_dir" not in data and data.get("models") and data.get("datasets"):
        # deterministic, so that the same command resumes the same run
        from synfaith.secrets import url_credentials

        first = data["models"][0]
        model = str(first.get("name") or url_credentials(str(first["path"]))[0]).rstrip("/").rsplit("/", 1)[-1]
        tasks = "+".join(str(d.get("name") or d["kind"]) for d in data["datasets"])
        data["output_dir"] = f"runs/{model}__{tasks}"
    if args.executor:
        data.setdefault("execution", {})["executor"] = args.executor
    if args.no_progress:
        data.setdefault("execution", {})["progress"] = False
    return parse_config(data, args.config or "(from flags)")


# lmms-eval's names of the Hugging Face loaders: with --model_args pretrained=… they name no checkpoint
LOADER_NAMES = frozenset({"hf", "llava_hf", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "internvl_hf", "internvl2", "internvl3"})


def limit_argument(text: str) -> int | float:
    """``--limit``: a number of instances per dataset, or (lmms-eval) a fraction of each dataset in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of instances or a fraction in (0, 1), got {text!r}") from None
    if value < 0 or value != value or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(f"expected a number of instances (0, 1, 2, …) or a fraction in (0, 1) such as 0.1, got {text!r}")
    return value if 0 < value < 1 else int(value)


def batch_size_argument(text: str) -> int | str:
    """``--batch_size``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
