"""Every expected failure of the CLI is one line naming the cause and the fix, with exit code 2 — never a traceback."""

import errno
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from synfaith.cli import main

RUN = ["run", "--tasks", "synthetic", "--limit", "1", "--explainers", "random", "--no-progress"]


def one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("synfaith: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--model", "toy", "--model_args", "device=gpu7"], "device must be auto, cpu, cuda, cuda:N or mps, got 'gpu7'"),
        (["--model", "toy", "--model_args", "dtype=float8"], "dtype must be one of auto, float32"),
        (["--model", "toy", "--explainers", "lime"], "unknown explainer 'lime'"),
        (["--model", "toy", "--model_args", "colour=red"], "unknown option 'colour'"),
        (["--model", "/no/such/checkpoint"], "is not a checkpoint directory"),
        (["--model", "toy", "--model_args", "pretrained=/no/such/checkpoint"], "'/no/such/checkpoint' is not a checkpoint directory"),
    ],
)
def test_bad_model_and_explainer_choices(capsys, tmp_path, extra, expected):
    argv = [*RUN, "--output_path", str(tmp_path / "run"), *extra]  # a repeated flag: argparse keeps the last
    line = one_line_error(capsys, argv)
    assert expected in line
    assert not (tmp_path / "run").exists()  # checked before the run directory is created


def test_device_cuda_without_a_gpu_says_what_to_do(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = one_line_error(capsys, [*RUN, "--model", "toy", "--model_args", "device=cuda", "--output_path", str(tmp_path / "r")])
    assert "this torch sees no CUDA GPU; use device=cpu" in line


def test_pretrained_names_the_checkpoint_like_lmms_eval(capsys, tmp_path):
    from synfaith.models.loading import toy_checkpoint

    argv = [*RUN, "--model_args", f"pretrained={toy_checkpoint()},name=mine", "--output_path", str(tmp_path / "run")]
    assert main(argv) == 0
    assert "1 rows written" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("models: [unclosed\n", "is not valid YAML at line 2"),
        ("- models\n- datasets\n", "must hold a mapping (models:, datasets:, explainers:, …) at the top level, got a list"),
        (b"models: \xff\xfe\n", "is not UTF-8 text"),
        ("models: []\ndatasets: []\n", "models: List should have at least 1 item"),
    ],
)
def test_bad_yaml_is_one_line(capsys, tmp_path, text, expected):
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    line = one_line_error(capsys, ["run", str(path)])
    assert expected in line


@pytest.mark.parametrize("code, expected", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only")])
def test_full_or_read_only_disk_is_one_line_and_leaves_no_debris(capsys, tmp_path, monkeypatch, code, expected):
    import pyarrow.parquet as pq

    def refuse(table, where, *args, **kwargs):
        with open(where, "wb") as handle:  # a partial write, then the disk gives up
            handle.write(b"PAR1")
        raise OSError(code, os.strerror(code), str(where))

    monkeypatch.setattr(pq, "write_table", refuse)
    line = one_line_error(capsys, [*RUN, "--model", "toy", "--output_path", str(tmp_path / "run")])
    assert expected in line and "--output_path" in line
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_an_unexpected_error_is_one_line_with_exit_1_and_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr("synfaith.runs.run", broken)
    argv = [*RUN, "--model", "toy", "--output_path", str(tmp_path / "run")]
    line = one_line_error(capsys, argv, code=1)
    assert "ZeroDivisionError: planted" in line and "--debug" in line
    with pytest.raises(ZeroDivisionError):
        main([*argv, "--debug"])


@pytest.fixture
def silent_hub():
    """A loopback 'hub' that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.parametrize("what", ["model", "dataset"])
def test_a_hub_name_against_a_stalled_hub_exits_2_within_30_s(silent_hub, tmp_path, what):
    env = dict(os.environ, HF_ENDPOINT=silent_hub, HF_HOME=str(tmp_path / "hf"), SYNFAITH_HUB_TIMEOUT="5")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        env.pop(name, None)
    names = ["--model", "someone/some-vlm"] if what == "model" else ["--model", "toy", "--tasks", "mmstar:someone/some-benchmark"]
    command = [sys.executable, "-m", "synfaith.cli", *RUN, *names, "--output_path", str(tmp_path / "run")]
    start = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    seconds = time.monotonic() - start
    assert finished.returncode == 2, finished.stderr
    assert seconds < 30
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    advice = "--model DIR" if what == "model" else "pass the local path instead"
    assert len(lines) == 1 and "did not answer within 5 s" in lines[0] and advice in lines[0], finished.stderr
    assert not (tmp_path / "run").exists()


def test_the_hub_timeout_defaults_to_20_s_and_is_configurable(monkeypatch):
    from synfaith.hub import hub_timeout

    monkeypatch.delenv("SYNFAITH_HUB_TIMEOUT", raising=False)
    assert hub_timeout() == 20.0
    monkeypatch.setenv("SYNFAITH_HUB_TIMEOUT", "3.5")
    assert hub_timeout() == 3.5 and hub_timeout(7) == 7.0
    monkeypatch.setenv("SYNFAITH_HUB_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SYNFAITH_HUB_TIMEOUT must be a number"):
        hub_timeout()
