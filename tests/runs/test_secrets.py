"""A planted key — inline, by api_key_env, inside the URL — appears in no file of the run and on no terminal line."""

import json

import pytest
import yaml

from synfaith.cli import main
from synfaith.runs import RunStore

KEY = "sk-planted-7f3a9c1e5b"


def _config(tmp_path, url, options, questions=()):
    records = [{"id": f"long-{i}", "image": "img.png", "question": q} for i, q in enumerate(questions)]
    data = {
        "output_dir": str(tmp_path / "run"),
        "models": [{"path": url, "name": "remote", "options": {"grid": [2, 2], "answer_cue": "Answer:", "retries": 0, **options}}],
        "datasets": [{"kind": "synthetic", "name": "world", "limit": 2, "options": {"per_cell": 1, "families": ["existence"]}}],
        "explainers": [{"name": "random"}],
        "metrics": {"compute": ["redundancy", "fsyn"], "steps": 3},
        "execution": {"progress": True},  # the progress bar is terminal output too
    }
    if records:
        from tests.conftest import random_image

        random_image(32, 32).save(tmp_path / "img.png")
        (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in records))
        data["datasets"].append({"kind": "jsonl", "name": "long", "options": {"path": str(tmp_path / "bad.jsonl")}})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _assert_nowhere(tmp_path, captured, secret=KEY):
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the key is in {path.relative_to(tmp_path)}"
    assert secret not in captured.out and secret not in captured.err


@pytest.mark.parametrize("how", ["inline", "api_key_env", "url"])
def test_a_planted_key_is_written_nowhere_while_the_remote_run_succeeds(served_toy, tmp_path, monkeypatch, capsys, how):
    _, url = served_toy
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if how == "inline":
        path = _config(tmp_path, url, {"api_key": KEY})
    elif how == "api_key_env":
        monkeypatch.setenv("MY_ENDPOINT_KEY", KEY)
        path = _config(tmp_path, url, {"api_key_env": "MY_ENDPOINT_KEY"})
    else:
        # a question over the model's context: the endpoint answers 400, and the failure row quotes the URL
        path = _config(tmp_path, url.replace("http://", f"http://user:{KEY}@"), {}, questions=["Is there " + "a very " * 400 + "dog?"])
    assert main(["run", str(path)]) == 0
    assert main(["report", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    rows = RunStore(tmp_path / "run").read_rows()
    ok = rows[rows.status == "ok"]
    assert len(ok) == 2 and ok.fsyn.notna().all()
    assert set(rows.model) == {"remote"}
    if how == "url":
        failed = rows[rows.status == "failed"]
        assert len(failed) == 1 and failed.stage.iloc[0] == "generate"
        assert "127.0.0.1" in failed.message.iloc[0] and "answered 400" in failed.message.iloc[0]  # the URL, without the key
        assert "user:***@127.0.0.1" in (tmp_path / "run" / "config.yaml").read_text()
    if how == "inline":
        assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["models"][0]["options"]["api_key"] == "***"
    _assert_nowhere(tmp_path, captured)


def test_a_key_in_the_url_of_a_flag_run_names_neither_directory_nor_row_with_it(served_toy, tmp_path, monkeypatch, capsys):
    _, url = served_toy
    monkeypatch.chdir(tmp_path)
    credentials_url = url.replace("http://", f"http://{KEY}@")
    argv = ["run", "--model", credentials_url, "--model_args", "grid=[2,2],retries=0", "--tasks", "synthetic", "--limit", "1",
            "--explainers", "random"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert KEY not in str(run_dir)
    for path in run_dir.rglob("*"):
        assert KEY not in str(path) and (not path.is_file() or KEY.encode() not in path.read_bytes())
    assert KEY not in captured.out + captured.err
