import os
import subprocess
import sys

import pytest

from synfaith.models import ADAPTERS, InternVLAdapter, LlavaAdapter, ModelNotAvailableError, Qwen25VLAdapter, load_model
from synfaith.models.registry import adapter_for


def test_registry_picks_the_adapter_by_model_type(adapters):
    assert ADAPTERS["llava"] is LlavaAdapter and ADAPTERS["qwen2_5_vl"] is Qwen25VLAdapter
    assert isinstance(adapters["internvl"], InternVLAdapter)
    with pytest.raises(ValueError, match="no synfaith adapter for model_type 'blip_2'"):
        adapter_for("blip_2")


def test_adapter_options_reach_the_adapter(twin_dirs):
    adapter = load_model(twin_dirs["qwen2_5_vl"], max_pixels=112 * 112, batch_size=4)
    assert adapter.max_pixels == 112 * 112 and adapter.batch_size == 4
    assert load_model(twin_dirs["internvl"], max_tiles=1).image_processor_kwargs()["crop_to_patches"] is False


def test_white_box_handles(adapters, arch):
    adapter = adapters[arch]
    assert len(adapter.language_layers) == 2
    assert isinstance(adapter.vision_tower, __import__("torch").nn.Module)
    assert isinstance(adapter.projector, __import__("torch").nn.Module)


def test_missing_local_path_is_named(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="not a checkpoint directory"):
        load_model(str(tmp_path / "nowhere" / "model"))


def test_hub_name_without_network_fails_fast_with_instructions(tmp_path):
    """A real checkpoint name, an empty cache and no network: one clear message, no traceback wall."""
    code = (
        "from synfaith.cli import main\n"
        "from synfaith.models import load_model, ModelNotAvailableError\n"
        "try:\n"
        "    load_model('llava-hf/llava-1.5-7b-hf')\n"
        "except ModelNotAvailableError as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    message = out.stdout
    assert "cannot load 'llava-hf/llava-1.5-7b-hf'" in message
    assert "huggingface-cli download llava-hf/llava-1.5-7b-hf --local-dir DIR" in message
    assert "Traceback" not in out.stderr
