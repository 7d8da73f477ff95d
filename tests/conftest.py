"""Shared test helpers and fixtures (tiny twins of the three architectures, built once per session)."""

import os

# Under pytest-xdist each worker gets one torch thread (and so does every subprocess a test
# starts): two workers × one thread beat one worker × two threads on small models, and
# oversubscribed OpenMP threads spin against each other.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") != "1":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest
from PIL import Image

from synfaith.data import Box, GroundTruth, Instance
from synfaith.models import load_model
from synfaith.testing.twins import ARCHS, build_twin


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module's tests (restored after): tiny models, and robust
    timing on a loaded CPU. A module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_hot(n: int, index: int) -> np.ndarray:
    """Scores that rank ``index`` first, then the rest in index order."""
    scores = -np.arange(n, dtype=float) / max(n, 1)
    scores[index] = 1.0
    return scores


def greedy_target(adapter, prepared):
    """The model's own first greedy token as a one-token target (random twins answer no format)."""
    import torch

    from synfaith.contracts import Target

    everything = (np.ones((1, prepared.n_image_units), bool), np.ones((1, prepared.n_text_units), bool))
    token = int(adapter.next_token_logits(prepared, *everything)[0].argmax())
    text = adapter.tokenizer.decode([token])
    return Target(text, text, torch.zeros(0, dtype=torch.long), torch.tensor([token]))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="session")
def twin_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    return {arch: build_twin(arch, root / arch, seed=0) for arch in ARCHS}


@pytest.fixture(scope="session")
def adapters(twin_dirs):
    return {arch: load_model(path) for arch, path in twin_dirs.items()}


@pytest.fixture(params=ARCHS)
def arch(request):
    return request.param


@pytest.fixture
def yes_no_instance():
    return Instance(
        "yes-no",
        random_image(64, 48),
        "Is there a red circle?",
        answer="yes",
        ground_truth=GroundTruth(boxes=(Box(0, 0, 20, 20),), words=("red", "circle")),
    )


@pytest.fixture
def choice_instance():
    return Instance("mc", random_image(150, 60, seed=1), "How many circles are there?", choices=("1", "2", "3"), answer="(B)")


@pytest.fixture(scope="session")
def served_toy():
    """The toy VLM behind ``synfaith serve``'s API on a loopback port: (the local adapter, the URL)."""
    import threading

    from synfaith.server import make_server

    local = load_model("toy")
    server = make_server(local)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield local, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
