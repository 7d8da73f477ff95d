"""The black-box adapter against a local OpenAI-compatible server that serves the toy VLM, and its
HTTP behaviour (keys, URL credentials, retries, redaction) against a tiny scripted loopback server."""

import base64
import json
import pickle
import socket
import struct
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from synfaith.data.synthetic import synthetic_instances
from synfaith.models.remote import RemoteChatAdapter, RemoteModelError
from synfaith.runs import ConfigError, RunStore, parse_config, run
from synfaith.secrets import redact


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
    with pytest.raises(ConfigError, match=r"explainer 'rollout' needs white_box, attention, image_tokens access \(image tokens in the language model's sequence.*\), which model 'toy-remote'"):
        parse_config(base | {"explainers": [{"name": "rollout"}]})
    with pytest.raises(ConfigError, match="metric 'stability' needs white_box access"):
        parse_config(base | {"explainers": [{"name": "random"}], "metrics": {"compute": ["fsyn", "stability"]}})
    assert not (tmp_path / "never").exists()


def test_endpoint_errors_are_clear(served_toy):
    with pytest.raises(RemoteModelError, match=r"cannot get an answer from http://127.0.0.1:9/tokenize after 2 attempts; last error: "
                       r"ConnectionRefusedError"):
        RemoteChatAdapter("http://127.0.0.1:9", timeout=2, retries=1, backoff=0.01).prepare(synthetic_instances(1, split="test")[0])
    with pytest.raises(ValueError, match="scoring must be"):
        RemoteChatAdapter("http://x", scoring="guess")


def test_multishap_says_when_its_budget_is_too_small(served_toy):
    from synfaith.explainers import get_explainer

    local, _ = served_toy
    prepared = local.prepare(synthetic_instances(1, split="test")[0])
    with pytest.raises(ValueError, match="raise budget"):
        get_explainer("multishap", budget=8).explain(local, prepared, local.generate_target(prepared))


# -- HTTP behaviour against a scripted loopback server ----------------------------------------
KEY = "sk-synfaith-test-0123456789"


@contextmanager
def scripted(*script, then="ok"):
    """A loopback server that answers its n-th request with ``script[n]`` (then ``then``):
    "ok" (a tokenize answer), "reset" (RST), "close" (hang up without answering) or an HTTP
    status whose error body echoes the request's Authorization header. Yields (url, seen headers)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(dict(self.headers))
            action = script[len(seen) - 1] if len(seen) <= len(script) else then
            if action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                socket.socket.close(self.connection)
            elif action != "close":
                status = 200 if action == "ok" else action
                body = {"tokens": [1, 2], "count": 2} if status == 200 else {"error": {"message": f"refused {self.headers.get('Authorization')}"}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def tokenize(adapter):
    return adapter._post("/tokenize", {"prompt": "hi"})


def assert_hidden(adapter, *secrets):
    for shown in (repr(adapter), repr(vars(adapter)), str(vars(adapter))):
        assert not any(secret in shown for secret in secrets), shown


def test_the_key_is_read_from_api_key_env_and_sent_as_bearer(monkeypatch):
    monkeypatch.setenv("SYNFAITH_TEST_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-default-987654")
    with scripted() as (url, seen):
        assert tokenize(RemoteChatAdapter(url, api_key_env="SYNFAITH_TEST_KEY", retries=0))["count"] == 2
        tokenize(RemoteChatAdapter(url, retries=0))  # the default: OPENAI_API_KEY
        tokenize(RemoteChatAdapter(url, api_key="sk-inline-wins-55555", api_key_env="SYNFAITH_TEST_KEY", retries=0))
        tokenize(RemoteChatAdapter(url, api_key_env=None, retries=0))
    assert [h.get("Authorization") for h in seen] == [f"Bearer {KEY}", "Bearer sk-openai-default-987654", "Bearer sk-inline-wins-55555", None]
    adapter = RemoteChatAdapter("http://127.0.0.1:9", api_key_env="SYNFAITH_TEST_KEY")
    assert_hidden(adapter, KEY)
    header = pickle.loads(pickle.dumps(adapter._authorization))  # e.g. sent to a worker process
    assert repr(header) == str(header) == "***" and header.value == f"Bearer {KEY}"
    assert redact(f"the key {KEY} leaked") == "the key *** leaked"


def test_url_credentials_are_stripped_and_sent_as_authorization(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with scripted() as (url, seen):
        host = url.removeprefix("http://")
        basic = RemoteChatAdapter(f"http://alice:pw-secret-4242@{host}", retries=0)
        token = RemoteChatAdapter(f"http://tok-secret-777777@{host}", retries=0)
        assert basic.base_url == token.base_url == url
        tokenize(basic)
        tokenize(token)
    assert seen[0]["Authorization"] == "Basic " + base64.b64encode(b"alice:pw-secret-4242").decode()
    assert seen[1]["Authorization"] == "Bearer tok-secret-777777"
    assert_hidden(basic, "pw-secret-4242")
    assert_hidden(token, "tok-secret-777777")


def test_connection_errors_and_busy_answers_are_retried_then_succeed(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with scripted("reset", "close", 503, 429) as (url, seen):
        adapter = RemoteChatAdapter(url, retries=4, backoff=0.01)
        assert tokenize(adapter) == {"tokens": [1, 2], "count": 2}
    assert len(seen) == adapter.requests == 5


def test_it_gives_up_after_the_retry_budget_with_a_redacted_reason(monkeypatch):
    monkeypatch.setenv("SYNFAITH_TEST_KEY", KEY)
    with scripted(then=503) as (url, seen):
        adapter = RemoteChatAdapter(url.replace("http://", "http://bob:pw-hidden-31337@"), api_key=None, retries=2, backoff=0.01)
        with pytest.raises(RemoteModelError) as caught:
            tokenize(adapter)
    message = str(caught.value)
    assert message.startswith(f"cannot get an answer from {url}/tokenize after 3 attempts; last error: HTTP 503")
    assert len(seen) == 3 and "pw-hidden-31337" not in message and "***" in message  # the echoed header is masked
    with scripted(then=503) as (url, seen):
        adapter = RemoteChatAdapter(url, api_key_env="SYNFAITH_TEST_KEY", retries=1, backoff=0.01)
        with pytest.raises(RemoteModelError, match="after 2 attempts") as caught:
            tokenize(adapter)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value) and "refused Bearer ***" in str(caught.value)


def test_other_client_errors_are_not_retried(monkeypatch):
    monkeypatch.setenv("SYNFAITH_TEST_KEY", KEY)
    with scripted(then=401) as (url, seen):
        adapter = RemoteChatAdapter(url, api_key_env="SYNFAITH_TEST_KEY", retries=4, backoff=0.01)
        with pytest.raises(RemoteModelError, match=f"{url}/tokenize answered 401") as caught:
            tokenize(adapter)
    assert len(seen) == 1 and KEY not in str(caught.value)


def test_retry_options_are_checked():
    with pytest.raises(ValueError, match="retries must be"):
        RemoteChatAdapter("http://127.0.0.1:9", retries=-1)
