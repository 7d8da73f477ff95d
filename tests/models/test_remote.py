"""The black-box adapter against a local OpenAI-compatible server that serves the toy VLM."""

import threading

import numpy as np
import pytest

from synfaith.data.synthetic import synthetic_instances
from synfaith.models import load_model
from synfaith.models.remote import RemoteChatAdapter, RemoteModelError
from synfaith.server import make_server
from synfaith.toy import default_checkpoint
from synfaith.runs import ConfigError, RunStore, parse_config, run


@pytest.fixture(scope="module")
def served_toy():
    local = load_model(str(default_checkpoint()))
    server = make_server(local)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield local, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_remote_game_values_equal_the_local_toy(served_toy):
    local, url = served_toy
    remote = RemoteChatAdapter(url, grid=(4, 4), answer_cue="Answer:")
    rng = np.random.default_rng(0)
    for instance in synthetic_instances(1, split="test")[:5]:
        local_prepared, remote_prepared = local.prepare(instance), remote.prepare(instance)
        assert remote_prepared.layout.query_spans == local_prepared.layout.query_spans  # same text units
        local_target, remote_target = local.generate_target(local_prepared), remote.generate_target(remote_prepared)
        assert remote_target.response == local_target.response and remote_target.correct == local_target.correct
        image_keep = rng.random((8, 16)) < 0.5
        text_keep = rng.random((8, local_prepared.n_text_units)) < 0.5
        image_keep[0], text_keep[0] = True, True
        image_keep[1], text_keep[1] = False, False
        expected = local.target_probabilities(local_prepared, local_target, image_keep, text_keep)
        values = remote.game(remote_prepared, remote_target).values(image_keep, text_keep)
        np.testing.assert_allclose(values, expected, atol=1e-4)
        coverage_remote, words_remote = remote.ground_truth_units(remote_prepared)
        coverage_local, words_local = local.ground_truth_units(local_prepared)
        np.testing.assert_allclose(coverage_remote, coverage_local)
        np.testing.assert_array_equal(words_remote, words_local)


def test_a_run_through_the_endpoint_completes_with_random_and_multishap(served_toy, tmp_path):
    _, url = served_toy
    config = parse_config({
        "output_dir": str(tmp_path),
        "models": [{"path": url, "name": "toy-remote", "options": {"grid": [4, 4], "answer_cue": "Answer:", "max_concurrency": 2}}],
        "datasets": [{"kind": "synthetic", "limit": 3, "seed": 0, "options": {"per_cell": 1}}],
        "explainers": [{"name": "random"}, {"name": "multishap", "options": {"budget": 512}}],
        "metrics": {"sii_limit": 1, "background_players": 2},  # the default list: white-box metrics are skipped
        "execution": {"progress": False},
    })
    summary = run(config)
    rows = RunStore(tmp_path).read_rows()
    assert summary.rows_written == 6 and summary.failures == 0, rows.message.dropna().tolist()
    assert rows[["fsyn", "visual_deletion", "modality_dividend"]].notna().all().all()
    assert rows.sii.notna().sum() == 2 and (rows[rows.explainer == "multishap"].explain_model_calls > 0).all()
    assert rows.stability_spearman.isna().all()  # probes need white-box access: left empty, not failed


def test_a_black_box_model_refuses_white_box_choices_at_config_time(served_toy, tmp_path):
    _, url = served_toy
    base = {
        "output_dir": str(tmp_path / "never"),
        "models": [{"path": url, "name": "toy-remote", "options": {"grid": [4, 4]}}],
        "datasets": [{"kind": "synthetic", "limit": 1}],
    }
    with pytest.raises(ConfigError, match="explainer 'rollout' needs white_box, attention access, which model 'toy-remote'"):
        parse_config(base | {"explainers": [{"name": "rollout"}]})
    with pytest.raises(ConfigError, match="metric 'stability' needs white_box access"):
        parse_config(base | {"explainers": [{"name": "random"}], "metrics": {"compute": ["fsyn", "stability"]}})
    assert not (tmp_path / "never").exists()


def test_endpoint_errors_are_clear(served_toy):
    with pytest.raises(RemoteModelError, match="cannot reach"):
        RemoteChatAdapter("http://127.0.0.1:9", timeout=2).prepare(synthetic_instances(1, split="test")[0])
    with pytest.raises(ValueError, match="scoring must be"):
        RemoteChatAdapter("http://x", scoring="guess")


def test_multishap_says_when_its_budget_is_too_small(served_toy):
    from synfaith.explainers import get_explainer

    local, _ = served_toy
    prepared = local.prepare(synthetic_instances(1, split="test")[0])
    with pytest.raises(ValueError, match="raise budget"):
        get_explainer("multishap", budget=8).explain(local, prepared, local.generate_target(prepared))
