"""batch_size: auto (models/memory.py): sizes, the probe on measured peaks, and the adapter path."""

import numpy as np
import pytest
import torch

from synfaith.models import load_model
from synfaith.models.memory import PeakMemory, human_bytes, parse_bytes, probe_batch_size
from tests.conftest import greedy_target

MIB = 2**20


def test_parse_bytes_reads_sizes_and_names_a_bad_one():
    assert parse_bytes("8GiB") == 8 * 2**30
    assert parse_bytes("500 MB") == 500 * 10**6
    assert parse_bytes("1.5k") == 1536
    assert parse_bytes(4096) == 4096 and parse_bytes(None) is None
    for bad in ("lots", "-3GiB", "0", "12 parsecs"):
        with pytest.raises(ValueError, match="memory size"):
            parse_bytes(bad)
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(3 * 2**30) == "3.0 GiB"


def test_peak_memory_on_cpu_sees_an_allocation_that_was_freed():
    with PeakMemory(torch.device("cpu")) as meter:
        block = np.ones(64 * MIB // 8)  # 64 MiB, every page touched
        del block
    if meter.peak is None:
        pytest.skip("this kernel exposes no resettable resident-set high-water mark")
    assert 56 * MIB <= meter.peak <= 96 * MIB


def test_probe_fits_the_largest_batch_under_the_budget():
    # 32 MiB per coalition, touched: large against the few MiB the process's resident set moves by
    # on its own under a loaded test run (at 8 MiB a 4.5 MiB/coalition error was seen once)
    def run_batch(size):
        block = np.ones(size * 32 * MIB // 8)
        return float(block[-1])

    probe = probe_batch_size(run_batch, torch.device("cpu"), budget=800 * MIB)
    if probe.per_coalition_bytes is None:
        pytest.skip("peak memory cannot be measured on this kernel")
    # half of the 800 MiB budget (the CPU safety share) at 32 MiB per coalition: 12
    assert 9 <= probe.batch_size <= 12, probe
    assert 24 * MIB <= probe.per_coalition_bytes <= 44 * MIB
    assert "coalitions per batch" in probe.describe()


def test_auto_batch_size_on_a_twin_matches_a_fixed_batch(twin_dirs, yes_no_instance, caplog):
    fixed = load_model(twin_dirs["llava"], batch_size=4)
    auto = load_model(twin_dirs["llava"], batch_size="auto", memory_budget="64MiB")
    prepared = fixed.prepare(yes_no_instance)
    target = greedy_target(fixed, prepared)
    rng = np.random.default_rng(0)
    image, text = rng.random((40, prepared.n_image_units)) < 0.5, rng.random((40, prepared.n_text_units)) < 0.5
    expected = fixed.game(prepared, target).values(image, text)
    with caplog.at_level("INFO", logger="synfaith.models.base"):
        game = auto.game(auto.prepare(yes_no_instance), target)
    assert isinstance(auto.batch_size, int) and auto.batch_size >= 1 and auto.batch_size_probe is not None
    assert "batch_size auto:" in caplog.text
    np.testing.assert_allclose(game.values(image, text), expected, rtol=1e-5, atol=1e-7)
    assert auto.token_forwards == game.token_forwards  # the probe's own forwards are not the game's


def test_out_of_memory_in_a_model_game_lowers_the_adapter_batch_size(twin_dirs, yes_no_instance):
    adapter = load_model(twin_dirs["llava"], batch_size=16)
    prepared = adapter.prepare(yes_no_instance)
    target = greedy_target(adapter, prepared)
    rng = np.random.default_rng(1)
    image, text = rng.random((30, prepared.n_image_units)) < 0.5, rng.random((30, prepared.n_text_units)) < 0.5
    expected = adapter.game(prepared, target).values(image, text)

    real = adapter.target_probabilities

    def small_device(prepared, target, image_keep, text_keep):  # an artificially small memory budget
        if len(image_keep) > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 300.00 MiB")
        return real(prepared, target, image_keep, text_keep)

    adapter.target_probabilities = small_device
    with pytest.warns(RuntimeWarning, match="out of memory"):
        values = adapter.game(prepared, target).values(image, text)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert adapter.batch_size <= 5  # the next instance's game starts from what fitted
