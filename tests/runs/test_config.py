"""Run configuration: validation with errors that name the field, defaults, CLI flags."""

import argparse

import pytest

from synfaith.cli import run_config_from_args
from synfaith.runs import ConfigError, load_config, parse_config

MINIMAL = {
    "output_dir": "out",
    "models": [{"path": "toy"}],
    "datasets": [{"kind": "synthetic", "limit": 3}],
    "explainers": [{"name": "random"}, {"name": "rollout"}],
}


def test_minimal_config_gets_every_default():
    config = parse_config(MINIMAL)
    assert config.metrics.compute == ["redundancy", "unimodal", "fsyn", "sii", "influence", "stability", "pointing"]
    assert config.metrics.steps == 11 and config.metrics.background_players == 6
    assert config.execution.executor == "local" and config.models[0].label == "toy"
    dumped = config.dump()
    assert dumped["models"][0]["batch_size"] == 16 and parse_config(dumped) == config


@pytest.mark.parametrize(
    "change, message",
    [
        ({"models": []}, "models: List should have at least 1 item"),
        ({"explainers": [{"name": "lime"}]}, "explainers.0.name: unknown explainer 'lime'"),
        ({"datasets": [{"kind": "synthetic", "limit": -1}]}, "datasets.0.limit: Input should be greater than or equal to 0"),
        ({"metrics": {"steps": 1}}, "metrics.steps: Input should be greater than or equal to 2"),
        ({"metrics": {"compute": ["fsyn", "lime"]}}, "metrics.compute: unknown metric 'lime'"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"explainers": [{"name": "random"}, {"name": "random"}]}, "explainer labels must be unique; repeated: random"),
    ],
)
def test_invalid_configs_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(MINIMAL | change, "test.yaml")


def test_yaml_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run configuration not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_shipped_demo_config_is_valid():
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
    assert config.models[0].path == "toy" and len(config.explainers) == 12  # the paper's nine, oracle, multishap, fsyn_search


def namespace(**overrides):
    fields = dict(config=None, model=None, model_args=None, tasks=None, explainers=None, limit=None, batch_size=None,
                  seed=None, output_path=None, executor=None, no_progress=False, shard=None)
    return argparse.Namespace(**(fields | overrides))


def test_lmms_eval_style_flags_build_and_override_a_config(tmp_path):
    config = run_config_from_args(
        namespace(model="toy", model_args="device=cpu,batch_size=4,max_new_tokens=5", tasks="synthetic,jsonl:data.jsonl",
                  explainers="random,tam", limit=7, seed=3)
    )
    assert config.models[0].batch_size == 4 and config.models[0].options == {"max_new_tokens": 5}
    assert [d.kind for d in config.datasets] == ["synthetic", "jsonl"] and config.datasets[1].options == {"path": "data.jsonl"}
    assert all(d.limit == 7 for d in config.datasets) and config.seed == 3
    assert [e.name for e in config.explainers] == ["random", "tam"]
    assert config.output_dir == "runs/toy__synthetic+jsonl"  # deterministic: the same command resumes
    listed = run_config_from_args(namespace(model="http://localhost:8000", model_args="model=m,grid=[4,4]", tasks="synthetic"))
    assert listed.models[0].options == {"model": "m", "grid": [4, 4]}
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(MINIMAL))
    overridden = run_config_from_args(namespace(config=str(path), batch_size=2, output_path="elsewhere", explainers="tam"))
    assert overridden.models[0].batch_size == 2 and overridden.output_dir == "elsewhere"
    assert [e.name for e in overridden.explainers] == ["tam"] and overridden.datasets[0].limit == 3


def test_an_error_inside_an_explainers_constructor_is_reported_as_itself():
    from synfaith.explainers import EXPLAINERS, Explainer, get_explainer, register_explainer
    from synfaith.registry import RegistryError

    @register_explainer
    class Broken(Explainer):
        name = "broken_on_purpose"
        requires = frozenset()

        def __init__(self, table: str = "a") -> None:
            self.value = {"b": 1}[table]  # a KeyError of its own

        def attribute(self, model, prepared, target):  # pragma: no cover - never built
            raise AssertionError

    try:
        with pytest.raises(KeyError, match="'a'") as caught:
            get_explainer("broken_on_purpose")
        assert not isinstance(caught.value, RegistryError)  # not "unknown explainer"
        with pytest.raises(RegistryError, match="unknown explainer 'lime'"):
            get_explainer("lime")
    finally:
        EXPLAINERS.unregister("broken_on_purpose")
