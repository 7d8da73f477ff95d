"""lmms-eval-style flags to a run configuration, and small argument parsers."""

from __future__ import annotations

import argparse


def run_dir_argument(path: str):
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
    from synfaith.explainers.registry import PAPER_EXPLAINERS, supported_explainers
    from synfaith.models.loading import adapter_class_for
    from synfaith.runs import parse_config
    from synfaith.runs.config import read_config_file

    data: dict = read_config_file(args.config) if args.config else {}
    model_args = _key_values(args.model_args)
    model_path = args.model
    if "pretrained" in model_args:  # lmms-eval's spelling of the checkpoint
        model_path = str(model_args.pop("pretrained"))
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
    if args.limit is not None:
        for dataset in data.get("datasets", []):
            dataset["limit"] = args.limit
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
