"""Fixtures and checks shared by every family test module (tests/models/families/test_<family>.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from synfaith.games.base import FunctionGame
from synfaith.metrics import synergistic_faithfulness
from synfaith.models import load_model
from synfaith.models.prompts import build_user_text
from synfaith.testing import build_twin


def family_fixtures(arch: str, **load_options):
    """The module fixtures of a family test: one torch thread (autouse), its tiny twin, and its adapter.

    Use as ``_one_torch_thread, twin, adapter = family_fixtures("glm4v")``: the twin is
    :func:`twin_of` ``arch`` (seed 0), the adapter (once per module) ``load_model(twin, **load_options)``.
    """

    @pytest.fixture(scope="module", autouse=True)
    def _one_torch_thread(one_torch_thread):  # the root conftest's fixture, for the whole module
        yield

    @pytest.fixture(scope="module")
    def twin(tmp_path_factory):
        return twin_of(tmp_path_factory, arch)

    @pytest.fixture(scope="module")
    def adapter(twin):
        return load_model(twin, **load_options)

    return _one_torch_thread, twin, adapter


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A random RGB image of ``width`` × ``height`` px (uniform bytes from ``seed``)."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def own_chat_template(adapter, instance, **template_options):
    """The processor's own tokenized chat template of ``instance`` (its image, then the user text)."""
    user_text, _ = build_user_text(instance, adapter.answer_cue)
    messages = [{"role": "user", "content": [{"type": "image", "image": instance.load_image()}, {"type": "text", "text": user_text}]}]
    return adapter.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt", **template_options
    )


def full_and_random_coalitions(m: int, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Three coalitions of ``m`` image and ``n`` text units: everything, then two random halves (from ``seed``)."""
    rng = np.random.default_rng(seed)
    image_keep = np.vstack([np.ones(m, bool), rng.random((2, m)) < 0.5])
    text_keep = np.vstack([np.ones(n, bool), rng.random((2, n)) < 0.5])
    return image_keep, text_keep


def masked_variant(adapter, prepared, target, image_keep, text_keep):
    """One coalition's model inputs: the answer's sequence ids ``[1, L]`` with dropped query tokens padded, and the masked pixels."""
    ids = adapter.sequence_ids(prepared, target).clone()
    query = prepared.layout.query_positions
    ids[query] = torch.where(torch.as_tensor(text_keep), ids[query], torch.full_like(ids[query], adapter.pad_token_id))
    return ids[None], prepared.pixels.masked(image_keep[None])


def check_masking_unit_k_changes_exactly_its_square(prepared, grid: int, side: int) -> None:
    """One square view of ``grid``×``grid`` units of ``side`` px: masking unit k changes exactly its square (row-major)."""
    pixels = prepared.pixels
    m = prepared.n_image_units
    variants = pixels.masked(~np.eye(m, dtype=bool)).reshape(m, *pixels.clean.shape)
    differs = pixels.clean != pixels.blurred
    for k in range(m):
        r, c = divmod(k, grid)
        square = torch.zeros_like(differs)
        square[..., r * side : (r + 1) * side, c * side : (c + 1) * side] = True
        changed = variants[k] != pixels.clean
        assert torch.equal(changed, differs & square)
        assert torch.equal(variants[k][square], pixels.blurred[square]) and changed.any()


def check_prefix_sharing_agrees(twin, instance, **options) -> None:
    """Game values with ``prefix_cache`` on and off agree to 1e-5 on F_syn's coalitions, answer "a b c"."""
    on, off = load_model(twin, prefix_cache=True, **options), load_model(twin, prefix_cache=False, **options)
    prepared = on.prepare(instance)
    target = on.make_target(prepared, "a b c")
    assert target.answer_ids.numel() == 5  # several answer tokens (bytes "a", " ", "b", " ", "c")
    m, n = prepared.n_image_units, prepared.n_text_units
    recorded = []

    def record(image_keep, text_keep):
        recorded.append((image_keep.copy(), text_keep.copy()))
        return np.zeros(len(image_keep))

    rng = np.random.default_rng(0)
    synergistic_faithfulness(FunctionGame(record, m, n), rng.normal(size=m), rng.normal(size=n), steps=11)
    image_keep = np.vstack([a for a, _ in recorded])
    text_keep = np.vstack([b for _, b in recorded])
    assert len(image_keep) >= 30
    shared, plain = on.game(prepared, target), off.game(prepared, target)
    with_prefix = shared.values(image_keep, text_keep)
    without = plain.values(image_keep, text_keep)
    np.testing.assert_allclose(with_prefix, without, rtol=1e-5, atol=0)
    assert (with_prefix > 0).all()
    assert shared.token_forwards < plain.token_forwards  # the prefix really was shared


_TWINS: dict = {}  # (the session's base temp dir, arch) -> its twin, built once a session
_NO_TORCHVISION_CODE: dict = {}  # arch -> code run after ``p = load_processor(<its twin>)``, without torchvision
_NO_TORCHVISION_RUNS: dict = {}  # the session's base temp dir -> {arch: (ok, stdout or traceback)}

_NO_TORCHVISION_SCRIPT = """\
import contextlib, io, json, sys, traceback
sys.modules['torchvision'] = None  # any import of torchvision now fails
from synfaith.models.processors import load_processor
results = {}
for arch, (twin, code) in json.loads(sys.argv[1]).items():
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            p = load_processor(twin)
            exec(code, {"sys": sys, "p": p, "load_processor": load_processor})
        results[arch] = (True, out.getvalue())
    except BaseException:
        results[arch] = (False, out.getvalue() + traceback.format_exc())
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump(results, f)
"""


def twin_of(tmp_path_factory, arch: str):
    """The tiny twin of ``arch`` (seed 0) for this session: built on first use, in ``mktemp(arch)``."""
    key = (str(tmp_path_factory.getbasetemp()), arch)
    if key not in _TWINS:
        _TWINS[key] = build_twin(arch, tmp_path_factory.mktemp(arch), seed=0)
    return _TWINS[key]


def register_without_torchvision(arch: str, code: str) -> None:
    """Register ``code`` (run after ``p = load_processor(twin)``; ``sys`` imported) for :func:`processor_without_torchvision`."""
    _NO_TORCHVISION_CODE[arch] = code


def processor_without_torchvision(tmp_path_factory, arch: str, timeout: int = 300) -> str:
    """``load_processor`` of ``arch``'s twin, then its registered code, where any torchvision import fails.

    One fresh interpreter per session runs every registered family in turn (each subprocess
    costs seconds of interpreter start-up); each family's load and code must succeed (its
    traceback is the failure message). Returns what that family's code printed.
    """
    base = str(tmp_path_factory.getbasetemp())
    if base not in _NO_TORCHVISION_RUNS:
        families = {name: (str(twin_of(tmp_path_factory, name)), code) for name, code in _NO_TORCHVISION_CODE.items()}
        report = tmp_path_factory.mktemp("no_torchvision") / "report.json"
        out = subprocess.run(
            [sys.executable, "-c", _NO_TORCHVISION_SCRIPT, json.dumps(families), str(report)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert out.returncode == 0, out.stderr
        _NO_TORCHVISION_RUNS[base] = json.loads(report.read_text(encoding="utf-8"))
    ok, output = _NO_TORCHVISION_RUNS[base][arch]
    assert ok, output
    return output


def insertion_coalitions(m: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """F_syn-like coalitions: insertion curves (6 steps, one random order each) of image only, text only, both.

    Returns ``(image_keep, text_keep)``, boolean arrays of 18 rows by ``m`` and ``n`` units.
    """
    rng = np.random.default_rng(seed)
    order_image, order_text = rng.permutation(m), rng.permutation(n)
    image_keep, text_keep = [], []
    for t in np.linspace(0, 1, 6):
        a, b = np.zeros(m, bool), np.zeros(n, bool)
        a[order_image[: round(t * m)]] = True
        b[order_text[: round(t * n)]] = True
        image_keep += [a, np.ones(m, bool), a]
        text_keep += [np.ones(n, bool), b, b]
    return np.array(image_keep), np.array(text_keep)
