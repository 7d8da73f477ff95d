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


# --- plugins that are not installed: --include_path, --imports and a config's imports: ----------------

NOT_INSTALLED = '''
"""A plugin file next to the user's configs (not installed): an explainer, a dataset, a metric."""

import numpy as np

from synfaith.contracts import Scores
from synfaith.data import DatasetSource, register_dataset
from synfaith.explainers import Explainer, register_explainer
from synfaith.metrics import Column, Metric, register_metric


@register_explainer
class Diagonal(Explainer):
    """Scores = the unit index, reversed; query tokens in order."""

    name = "{prefix}_diagonal"
    requires = frozenset()

    def attribute(self, model, prepared, target):
        return Scores(-np.arange(prepared.n_image_units, dtype=float), -np.arange(prepared.n_text_units, dtype=float))


@register_dataset("{prefix}_shapes")
def shapes(count: int = 2) -> DatasetSource:
    """The first ``count`` synergy instances of the synthetic world."""
    from synfaith.data.synthetic import synthetic_instances

    return DatasetSource.from_instances("{prefix}_shapes", synthetic_instances(1, split="test", subsets=("synergy",))[:count])


def _full(inputs):
    game = inputs.game
    return {{"{prefix}_full": float(game.values([[True] * game.n_image], [[True] * game.n_text])[0])}}


register_metric(Metric(name="{prefix}_full", scope="instance", needs=frozenset({{"game"}}), compute=_full,
                       columns=(Column("{prefix}_full", "float", description="v(V, T)"),), label="{prefix} full value",
                       description="v(V, T)"))
'''


def _plugin_file(folder, prefix):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"synfaith_{prefix}_plugin.py"
    path.write_text(textwrap.dedent(NOT_INSTALLED).replace("{prefix}", prefix).replace("{{", "{").replace("}}", "}"))
    return path


def _forget(prefix):
    """What a fresh process knows: the plugin's names unregistered and its module unimported."""
    from synfaith.data import DATASETS
    from synfaith.explainers import EXPLAINERS
    from synfaith.metrics import METRICS

    EXPLAINERS.unregister(f"{prefix}_diagonal")
    DATASETS.unregister(f"{prefix}_shapes")
    METRICS.unregister(f"{prefix}_full")
    sys.modules.pop(f"synfaith_{prefix}_plugin", None)


def test_include_path_reaches_listings_runs_and_the_report_which_reloads_it(tmp_path, capsys):
    import pandas as pd

    from synfaith.cli import main
    from synfaith.explainers import EXPLAINERS
    from synfaith.runs import RunStore

    folder = _plugin_file(tmp_path / "plugins", "inc").parent
    run_dir = tmp_path / "run"
    try:
        assert main(["explainers", "list", "--include_path", str(folder)]) == 0
        assert any(line.split()[:2] == ["inc_diagonal", "nothing"] for line in capsys.readouterr().out.splitlines())
        _forget("inc")
        assert main(["run", "--tasks", "list", "--include_path", str(folder)]) == 0
        assert "inc_shapes" in capsys.readouterr().out
        _forget("inc")
        argv = ["run", "--model", "toy", "--tasks", "inc_shapes", "--explainers", "inc_diagonal,random", "--metrics", "inc_full,fsyn",
                "--no-progress", "--include_path", str(folder), "--output_path", str(run_dir)]
        assert main(argv) == 0
        rows = RunStore(run_dir).read_rows()
        assert len(rows) == 4 and (rows.status == "ok").all() and rows.inc_full.between(0, 1).all()
        assert RunStore(run_dir).config()["include_paths"] == [str(folder.resolve())]
        # a new process: the report loads the run's recorded include path itself, and draws the maps
        _forget("inc")
        assert "inc_diagonal" not in EXPLAINERS
        assert main(["report", str(run_dir)]) == 0
        page = (run_dir / "report" / "index.html").read_text()
        assert "inc_diagonal" in page and "inc full value" in page and "images are not available" not in page
        assert list((run_dir / "report" / "figures").glob("qualitative*.png"))
        assert "inc_full" in pd.read_csv(run_dir / "report" / "tables" / "metric_means.csv").columns
    finally:
        _forget("inc")


def test_a_config_imports_list_works_from_python_and_is_not_fingerprinted(tmp_path):
    from synfaith.explainers import EXPLAINERS
    from synfaith.runs import RunStore, parse_config, run

    path = _plugin_file(tmp_path / "elsewhere", "imp")
    data = {"output_dir": str(tmp_path / "run"), "imports": [str(path)], "models": [{"path": "toy", "device": "cpu"}],
            "datasets": [{"kind": "imp_shapes", "options": {"count": 1}}], "explainers": [{"name": "imp_diagonal"}],
            "metrics": {"compute": ["imp_full", "fsyn"]}, "execution": {"progress": False}}
    try:
        config = parse_config(data)
        assert config.imports == [str(path.resolve())] and "imp_diagonal" in EXPLAINERS
        assert run(config).rows_written == 1
        # the recorded config brings its plugin back in a fresh process; the import list is no part of any fingerprint
        _forget("imp")
        again = parse_config(RunStore(tmp_path / "run").config())
        assert "imp_diagonal" in EXPLAINERS and again.imports == config.imports
        moved = _plugin_file(tmp_path / "moved", "imp")
        _forget("imp")
        summary = run(parse_config(data | {"imports": [str(moved)]}))
        assert summary.rows_written == 0 and summary.skipped == 1 and not summary.changed
    finally:
        _forget("imp")


def test_a_wrapper_registered_explainer_keeps_its_maps_in_a_report_that_does_not_know_it(tmp_path):
    import numpy as np

    from synfaith.contracts import Scores
    from synfaith.explainers import EXPLAINERS, Explainer, register_explainer
    from synfaith.report import write_report
    from synfaith.runs import parse_config, run

    @register_explainer
    class Wrapped(Explainer):
        """Registered by a wrapper script, never importable by name."""

        name = "wrapped_diagonal"
        requires = frozenset()

        def attribute(self, model, prepared, target):
            return Scores(-np.arange(prepared.n_image_units, dtype=float), -np.arange(prepared.n_text_units, dtype=float))

    try:
        run(parse_config({"output_dir": str(tmp_path / "run"), "models": [{"path": "toy", "device": "cpu"}],
                          "datasets": [{"kind": "synthetic", "limit": 2, "options": {"per_cell": 1, "subsets": ["synergy"]}}],
                          "explainers": [{"name": "wrapped_diagonal"}], "metrics": {"compute": ["fsyn", "redundancy"]},
                          "execution": {"progress": False}}))
    finally:
        EXPLAINERS.unregister("wrapped_diagonal")
    page = write_report(tmp_path / "run").read_text()
    assert "wrapped_diagonal" in page and "images are not available" not in page
    assert list((tmp_path / "run" / "report" / "figures").glob("qualitative*.png"))


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--imports", "no_such_plugin_module"], "cannot import module 'no_such_plugin_module' (from imports): no module named"),
        (["--include_path", "/no/such/folder"], "--include_path '/no/such/folder' is not a directory"),
        (["--imports", "/no/such/plugin.py"], "imports: '/no/such/plugin.py' is not a file"),
        (["--imports", "{broken}"], "broken_plugin.py (from imports): ZeroDivisionError: division by zero"),
    ],
)
def test_a_plugin_that_cannot_be_imported_is_one_line(tmp_path, capsys, flags, expected):
    from synfaith.cli import main

    broken = tmp_path / "broken_plugin.py"
    broken.write_text("1 / 0\n")
    flags = [f.replace("{broken}", str(broken)) for f in flags]
    assert main(["run", "--model", "toy", "--explainers", "random", "--output_path", str(tmp_path / "run"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synfaith: error: ") and expected in err[0], err
    assert not (tmp_path / "run").exists()
    assert main(["explainers", "list", *flags]) == 2
    assert expected in capsys.readouterr().err
