"""Tiny random-weight twins: build, reload, token layout, determinism, generate."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from synfaith.testing import twins  # noqa: E402
from tests.conftest import random_image  # noqa: E402
from synfaith.models.processors import load_processor, read_model_type  # noqa: E402

QUESTION = "Is there a red circle?"
MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]

# Real special-token ids of the checkpoints, and the tiny ids (256 + position).
EXPECTED_IDS = {
    "llava": {"<s>": 257, "</s>": 258, "<image>": 259, "<pad>": 260},
    "qwen2_5_vl": {
        "<|endoftext|>": 256,
        "<|im_start|>": 257,
        "<|im_end|>": 258,
        "<|vision_start|>": 265,
        "<|vision_end|>": 266,
        "<|image_pad|>": 268,
        "<|video_pad|>": 269,
        "<|file_sep|>": 277,
    },
    "internvl": {
        "<|endoftext|>": 256,
        "<|im_end|>": 258,
        "<img>": 278,
        "</img>": 279,
        "<IMG_CONTEXT>": 280,
        "</box>": 286,
    },
}


def _image(h: int = 48, w: int = 64, seed: int = 0) -> Image.Image:
    return random_image(w, h, seed)


@pytest.fixture(scope="module")
def built(twin_dirs):
    return twin_dirs


@pytest.fixture(scope="module")
def loaded(built):
    return {arch: (twins.model_class(read_model_type(path)).from_pretrained(path).eval(), load_processor(path)) for arch, path in built.items()}


def _image_features(model, arch, inputs) -> torch.Tensor:
    """All image features the vision tower + projector/merger produce, flattened to [N, D]."""
    if arch == "llava":  # list of [tokens, D] per image
        feats = model.get_image_features(pixel_values=inputs["pixel_values"])
        return torch.cat(list(feats), dim=0)
    if arch == "qwen2_5_vl":  # tuple of [tokens, D] per image, after the 2x2 merger
        feats = model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
        return torch.cat(feats, dim=0)
    feats = model.get_image_features(pixel_values=inputs["pixel_values"])  # [tiles, 16, D]
    return feats.reshape(-1, feats.shape[-1])


def _expected_tokens(arch, inputs) -> int:
    """The real models' placeholder-count formulas."""
    if arch == "llava":
        _, _, h, w = inputs["pixel_values"].shape
        return (h // 14) * (w // 14)  # + 1 CLS - 1 (default strategy drops it)
    if arch == "qwen2_5_vl":
        return int(inputs["image_grid_thw"].prod(-1).sum()) // 4
    return inputs["pixel_values"].shape[0] * twins.SPEC["internvl"]["image_seq_length"]


@pytest.mark.parametrize("arch", twins.ARCHS)
def test_directory_and_tokenizer(built, arch):
    from transformers import AutoConfig, AutoTokenizer

    path = built[arch]
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"} <= names
    assert "chat_template.jinja" in names
    assert AutoConfig.from_pretrained(path).model_type == arch
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.model_input_names == ["input_ids", "attention_mask"]
    assert tok.pad_token is not None and tok.pad_token_id is not None
    for token, tid in EXPECTED_IDS[arch].items():
        assert tok.convert_tokens_to_ids(token) == tid, token
    # special tokens are single ids; ordinary text is bytes
    for token, tid in EXPECTED_IDS[arch].items():
        assert tok.encode(token, add_special_tokens=False) == [tid], token
    assert tok.decode(tok.encode("héllo wörld", add_special_tokens=False)) == "héllo wörld"
    assert all(i < 256 for i in tok.encode("Yes No", add_special_tokens=False))
    # the vocabulary fits the embedding matrix
    config = json.loads((path / "config.json").read_text())
    assert len(tok) <= config["text_config"]["vocab_size"]
    # the saved processor class is the stock one (the directory looks like the real checkpoint)
    assert json.loads((path / "preprocessor_config.json").read_text())["processor_class"] in (
        "LlavaProcessor",
        "Qwen2_5_VLProcessor",
        "InternVLProcessor",
    )


@pytest.mark.parametrize("arch", twins.ARCHS)
def test_chat_template(loaded, arch):
    _, processor = loaded[arch]
    prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    tok = processor.tokenizer
    from_tokenizer = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert prompt == from_tokenizer
    expected = {
        "llava": f"USER: <image>\n{QUESTION} ASSISTANT:",
        "qwen2_5_vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n",
        "internvl": f"<|im_start|>user\n<IMG_CONTEXT>\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n",
    }[arch]
    assert prompt == expected


@pytest.mark.parametrize("arch", twins.ARCHS)
def test_forward_token_count_and_generate(loaded, arch):
    model, processor = loaded[arch]
    prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    inputs = processor(images=[_image()], text=[prompt], return_tensors="pt")
    ids = inputs["input_ids"][0]
    image_token_id = model.config.image_token_id
    n_placeholders = int((ids == image_token_id).sum())

    with torch.no_grad():
        feats = _image_features(model, arch, inputs)
        out = model(**inputs)
    assert n_placeholders == feats.shape[0] == _expected_tokens(arch, inputs) > 0
    assert feats.shape[1] == model.config.get_text_config().hidden_size
    assert out.logits.shape == (1, ids.shape[0], model.config.get_text_config().vocab_size)
    assert torch.isfinite(out.logits).all()

    # the placeholders form one contiguous run, framed as in the real models
    pos = torch.nonzero(ids == image_token_id).flatten()
    assert (pos[-1] - pos[0] + 1).item() == n_placeholders
    tok = processor.tokenizer
    if arch == "llava":
        assert ids[0].item() == tok.bos_token_id
        assert pos[0].item() == len(tok.encode("USER: ", add_special_tokens=False)) + 1
    elif arch == "qwen2_5_vl":
        assert ids[pos[0] - 1].item() == tok.convert_tokens_to_ids("<|vision_start|>")
        assert ids[pos[-1] + 1].item() == tok.convert_tokens_to_ids("<|vision_end|>")
    else:
        assert ids[pos[0] - 1].item() == tok.convert_tokens_to_ids("<img>")
        assert ids[pos[-1] + 1].item() == tok.convert_tokens_to_ids("</img>")

    gen = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert gen.shape[0] == 1 and ids.shape[0] < gen.shape[1] <= ids.shape[0] + 3  # may stop at eos
    assert torch.equal(gen[0, : ids.shape[0]], ids)
    again = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert torch.equal(gen, again)


def test_sizes_per_arch(loaded):
    """Token counts of the chosen sizes (see twins.SPEC)."""
    img = _image()  # 64x48
    counts = {}
    for arch, (_, processor) in loaded.items():
        prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
        inputs = processor(images=[img], text=[prompt], return_tensors="pt")
        counts[arch] = (inputs["input_ids"] == loaded[arch][0].config.image_token_id).sum().item()
        if arch == "qwen2_5_vl":
            assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]  # 56x56 -> 2x2 merged
            big = processor(images=[_image(84, 112)], text=[prompt], return_tensors="pt", max_pixels=112**2)
            assert big["image_grid_thw"].tolist() == [[1, 6, 8]]  # 3 rows x 4 cols of tokens
        if arch == "internvl":
            assert inputs["pixel_values"].shape == (13, 3, 112, 112)  # 4x3 tiles + thumbnail
            single = processor(images=[img], text=[prompt], return_tensors="pt", crop_to_patches=False)
            assert single["pixel_values"].shape == (1, 3, 112, 112)
            assert (single["input_ids"] == 280).sum().item() == 16
    assert counts == {"llava": 16, "qwen2_5_vl": 4, "internvl": 13 * 16}


def test_qwen_pixel_rows_follow_merge_blocks(loaded):
    """Merged token k of Qwen2.5-VL owns pixel_values rows 4k..4k+3 (its 2x2 patches)."""
    _, processor = loaded["qwen2_5_vl"]
    base = np.full((112, 112, 3), 128, dtype=np.uint8)
    changed = base.copy()
    r, c = 1, 2  # merged cell (row 1, col 2) of the 4x4 grid = 28 px blocks
    changed[28 * r : 28 * (r + 1), 28 * c : 28 * (c + 1)] = 255
    kw = dict(min_pixels=112 * 112, max_pixels=112 * 112, return_tensors="pt")
    a = processor.image_processor(images=[Image.fromarray(base)], **kw)
    b = processor.image_processor(images=[Image.fromarray(changed)], **kw)
    assert a["image_grid_thw"].tolist() == [[1, 8, 8]]
    rows = torch.nonzero((a["pixel_values"] != b["pixel_values"]).any(-1)).flatten().tolist()
    k = r * 4 + c
    assert rows == [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3]


def test_internvl_pixel_shuffle_is_row_major(loaded):
    """InternVL token (i, j) of a tile merges ViT patches rows 2i..2i+1, cols 2j..2j+1."""
    model, _ = loaded["internvl"]
    g = twins.SPEC["internvl"]["tile_size"] // twins.SPEC["internvl"]["patch_size"]  # 8 patches per row
    rows, cols = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
    x = torch.stack([rows, cols], dim=-1).float().unsqueeze(0)  # [1, 8, 8, 2]
    y = model.model.pixel_shuffle(x, scale_factor=0.5)  # [1, 4, 4, 8]
    assert y.shape == (1, g // 2, g // 2, 8)
    for i in range(g // 2):
        for j in range(g // 2):
            pairs = y[0, i, j].view(4, 2).tolist()
            assert sorted(map(tuple, pairs)) == [(2 * i + a, 2 * j + b) for a in (0, 1) for b in (0, 1)]


@pytest.mark.parametrize("arch", twins.ARCHS)
def test_inputs_embeds_path_and_eager(loaded, arch):
    """The recipe for per-image-token gradients: merge embeddings yourself, call with inputs_embeds.

    Qwen2.5-VL also needs its 3-D M-RoPE ``position_ids`` from ``model.model.get_rope_index``.
    """
    model, processor = loaded[arch]
    prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    inputs = processor(images=[_image()], text=[prompt], return_tensors="pt")
    with torch.no_grad():
        reference = model(**inputs).logits
        embeds = model.get_input_embeddings()(inputs["input_ids"])
        feats = _image_features(model, arch, inputs)
        mask = (inputs["input_ids"] == model.config.image_token_id).unsqueeze(-1).expand_as(embeds)
        embeds = embeds.masked_scatter(mask, feats)
        extra = {}
        if arch == "qwen2_5_vl":
            position_ids, _ = model.model.get_rope_index(
                inputs["input_ids"], inputs["image_grid_thw"], None, attention_mask=inputs["attention_mask"]
            )
            assert position_ids.shape == (3, 1, inputs["input_ids"].shape[1])
            extra["position_ids"] = position_ids
        logits = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], **extra).logits
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)

    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation("sdpa")
    n = inputs["input_ids"].shape[1]
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 4, n, n)
    torch.testing.assert_close(out.logits, reference, atol=1e-5, rtol=1e-5)


def test_batched_matches_single(loaded):
    """Left-padded batch (different image sizes) gives the same last-token logits."""
    model, processor = loaded["qwen2_5_vl"]
    prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    images = [_image(48, 64, seed=1), _image(84, 112, seed=2)]
    batch = processor(images=images, text=[prompt, prompt], return_tensors="pt", padding=True)
    assert processor.tokenizer.padding_side == "left"
    with torch.no_grad():
        batched = model(**batch).logits[:, -1]
        for i, img in enumerate(images):
            one = processor(images=[img], text=[prompt], return_tensors="pt")
            torch.testing.assert_close(model(**one).logits[0, -1], batched[i], atol=1e-5, rtol=1e-4)


def test_seed_determinism(built, tmp_path):
    for arch in twins.ARCHS:
        ref = load_file(built[arch] / "model.safetensors")
        same = load_file(twins.build_twin(arch, tmp_path / f"{arch}_same", seed=0) / "model.safetensors")
        other = load_file(twins.build_twin(arch, tmp_path / f"{arch}_other", seed=1) / "model.safetensors")
        assert ref.keys() == same.keys() == other.keys()
        assert all(torch.equal(ref[k], same[k]) for k in ref), arch
        assert any(not torch.equal(ref[k], other[k]) for k in ref), arch
        assert all(torch.isfinite(v).all() for v in ref.values())


def test_build_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    twins.build_twin("llava", tmp_path / "x", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_reload_matches_saved_weights(built):
    """from_pretrained loads every saved tensor (no missing/unexpected keys; tied embeddings).

    Saved key names may differ from module names (transformers 4.57 writes LLaVA keys in the
    legacy ``language_model.model.*`` layout), so tensors are compared by fingerprint.
    """
    for arch in twins.ARCHS:
        cls = twins.model_class(arch)
        model, info = cls.from_pretrained(built[arch], output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (arch, info)
        saved = load_file(built[arch] / "model.safetensors")
        params = dict(model.named_parameters())  # tied weights appear once

        def fingerprint(tensors):
            return sorted((tuple(t.shape), round(float(t.detach().double().sum()), 6)) for t in tensors)

        assert fingerprint(saved.values()) == fingerprint(params.values()), arch
        tied = model.config.get_text_config().tie_word_embeddings
        out_ptr = model.get_output_embeddings().weight.data_ptr()
        assert (out_ptr == model.get_input_embeddings().weight.data_ptr()) == tied, arch


def test_processor_roundtrip(built, tmp_path):
    for arch in twins.ARCHS:
        processor = load_processor(built[arch])
        processor.save_pretrained(tmp_path / arch)
        (tmp_path / arch / "config.json").write_text((built[arch] / "config.json").read_text())
        again = load_processor(tmp_path / arch)
        assert type(again) is type(processor)
        prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
        a = processor(images=[_image()], text=[prompt], return_tensors="pt")
        b = again(images=[_image()], text=[prompt], return_tensors="pt")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_arch(tmp_path):
    with pytest.raises(ValueError):
        twins.build_twin("blip2", tmp_path)


def test_no_torchvision_import(built):
    code = (
        "import sys\n"
        "from synfaith.models.processors import load_processor\n"
        f"p = load_processor({str(built['internvl'])!r})\n"
        f"q = load_processor({str(built['qwen2_5_vl'])!r})\n"
        "assert 'torchvision' not in sys.modules, 'torchvision imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert "torchvision" not in sys.modules
