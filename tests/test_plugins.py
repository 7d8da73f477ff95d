"""A third-party package extends synfaith through the ``synfaith.plugins`` entry point group.

The test builds and installs a throwaway distribution into a temporary directory (pip, no
network: ``--no-index --no-build-isolation``) that provides an explainer, a dataset and a
metric, then drives synfaith from a fresh interpreter with that directory on the path: the
three show up in ``synfaith explainers list``, pass config validation, fill rows, and appear
in the report — without any edit of synfaith.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN = '''
"""A synfaith plugin: one explainer, one dataset, one metric."""

import numpy as np

from synfaith.contracts import Scores
from synfaith.data import DatasetSource, register_dataset
from synfaith.explainers import Explainer, register_explainer
from synfaith.metrics import Column, Metric, register_metric


@register_explainer
class CentreFirst(Explainer):
    """Scores = closeness of each visual unit to the image centre; query tokens in order."""

    name = "centre_first"
    requires = frozenset()

    def __init__(self, sharpness: float = 1.0) -> None:
        self.sharpness = sharpness

    def attribute(self, model, prepared, target):
        rows, cols = prepared.unit_grid.shape
        r, c = np.divmod(np.arange(rows * cols), cols)
        distance = np.hypot(r - (rows - 1) / 2, c - (cols - 1) / 2)
        image = np.zeros(prepared.n_image_units)
        image[prepared.unit_grid.ravel()] = -self.sharpness * distance + 1e-3 * np.arange(rows * cols)[::-1]
        return Scores(image, -np.arange(prepared.n_text_units, dtype=float))


@register_dataset("few_shapes")
def few_shapes(count: int = 2) -> DatasetSource:
    """The first ``count`` synergy instances of the synthetic world."""
    from synfaith.data.synthetic import synthetic_instances

    return DatasetSource.from_instances("few_shapes", synthetic_instances(1, split="test", subsets=("synergy",))[:count])


def _clean_value(inputs):
    """v(V, T): the game's value on the clean input."""
    game = inputs.game
    return {"clean_value": float(game.values([[True] * game.n_image], [[True] * game.n_text])[0])}


register_metric(Metric(name="clean_value", scope="instance", needs=frozenset({"game"}), compute=_clean_value,
                       columns=(Column("clean_value", "float", description="v(V, T)"),),
                       label="clean value", description="the target's probability on the clean input"))
'''

SETUP = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "synfaith-plugin-example"
version = "0.0.1"

[project.entry-points."synfaith.plugins"]
example = "synfaith_plugin_example"

[tool.setuptools]
py-modules = ["synfaith_plugin_example"]
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    source = tmp_path_factory.mktemp("plugin-source")
    (source / "pyproject.toml").write_text(SETUP)
    (source / "synfaith_plugin_example.py").write_text(textwrap.dedent(PLUGIN))
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True,
    )
    assert any(p.name.endswith(".dist-info") for p in target.iterdir())
    return target


def _synfaith(plugin_path, *args, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "synfaith.cli", *args], env=env, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_an_installed_plugin_appears_in_lists_configs_rows_and_the_report(plugin_path, tmp_path):
    listing = _synfaith(plugin_path, "explainers", "list")
    assert listing.returncode == 0, listing.stderr
    assert any(line.split()[:2] == ["centre_first", "nothing"] for line in listing.stdout.splitlines())
    metrics = _synfaith(plugin_path, "metrics", "list")
    assert "clean_value" in metrics.stdout

    config = tmp_path / "plugin.yaml"
    config.write_text(json.dumps({
        "output_dir": str(tmp_path / "run"),
        "models": [{"path": "toy", "device": "cpu"}],
        "datasets": [{"kind": "few_shapes", "options": {"count": 2}}],
        "explainers": [{"name": "centre_first", "options": {"sharpness": 2.0}}, {"name": "random"}],
        "metrics": {"compute": ["clean_value", "fsyn"]},
        "execution": {"progress": False},
    }))
    # config validation sees the plugin's typed options
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace('"sharpness": 2.0', '"sharpness": "very"'))
    refused = _synfaith(plugin_path, "run", str(bad))
    assert refused.returncode == 2 and "option 'sharpness'" in refused.stderr and not (tmp_path / "run").exists()

    ran = _synfaith(plugin_path, "run", str(config), "--no-progress")
    assert ran.returncode == 0, ran.stderr
    import pandas as pd

    from synfaith.runs import RunStore

    rows = pd.concat([pd.read_parquet(p) for p in RunStore(tmp_path / "run").shards()])
    assert len(rows) == 4 and (rows.status == "ok").all(), rows.message.tolist()
    assert rows.clean_value.between(0, 1).all() and rows.clean_value.notna().all()
    assert set(rows.explainer) == {"centre_first", "random"} and rows.fsyn.notna().all()
    # the clean value is v(V, T), which the F_syn game also evaluates: the cache shared it
    assert (rows.fsyn_evaluations < rows.fsyn_coalitions).all()

    report = _synfaith(plugin_path, "report", str(tmp_path / "run"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "run" / "report" / "index.html").read_text()
    assert "centre_first" in page and "clean value" in page and "clean_value" in page
    means = pd.read_csv(tmp_path / "run" / "report" / "tables" / "metric_means.csv")
    assert "clean_value" in means.columns


def test_without_the_plugin_its_names_are_unknown(tmp_path):
    from synfaith.runs import ConfigError, parse_config

    with pytest.raises(ConfigError, match="unknown explainer 'centre_first'"):
        parse_config({"output_dir": str(tmp_path), "models": [{"path": "toy"}], "datasets": [{"kind": "synthetic"}],
                      "explainers": [{"name": "centre_first"}]})
