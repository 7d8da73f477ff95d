"""The paper's three models at full width: seconds, token-forwards and peak memory per pair, prefix sharing on and off.

Builds random-weight models from the published configuration values of
``llava-hf/llava-1.5-7b-hf``, ``Qwen/Qwen2.5-VL-3B-Instruct`` and the transformers-native
``OpenGVLab/InternVL3-2B-hf`` (written out below; nothing is downloaded), loads each through its
synfaith adapter with the real image geometry (LLaVA 336 px → 576 units; Qwen2.5-VL at the
adapter's 313,600-pixel cap → 400 merged units; InternVL 448 px tiles with a thumbnail → 768
units), and measures in one process, on the same weights:

* an F_syn pair: ``synergistic_faithfulness`` of one ranking on a fresh game (6K + 2
  coalitions before de-duplication);
* an SII pair: the exact SII ground truth's coalitions (2^(2+C) per step) of ``--sii-steps``
  of the K steps on a fresh game (all K by default; ``--sii-steps 1`` on a CPU, where the full
  pair takes hours at full width);

each with prefix sharing off and on (``prefix_cache=False`` / ``True``), interleaved, best of
``--repeats``. Trained weights change no timing. On a GPU (bf16, full depth)::

    python benchmarks/full_size.py --device cuda --json full_size.json

On a CPU, one decoder layer and one vision layer::

    python benchmarks/full_size.py --arch llava --layers 1 --sii-steps 1
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from synfaith.data import Instance
from synfaith.games.players import PlayerGame, all_coalitions
from synfaith.metrics import synergistic_faithfulness
from synfaith.metrics.ranking import perturbation_path
from synfaith.metrics.sii import DEFAULT_BACKGROUND_PLAYERS, macro_players
from synfaith.models.memory import PeakMemory, human_bytes
from synfaith.models.registry import adapter_for
from synfaith.testing.twins import IMAGENET_MEAN, OPENAI_CLIP_MEAN, build_processor, build_tokenizer, model_class

QUESTION = "Is there a red circle to the left of the blue square?"


def llava_config(tok, layers: int | None):
    """llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14-336 (24 layers, 1024 wide), Vicuna-7B (32 layers, 4096 wide)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<image>", "<pad>")}
    vision = CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=_depth(24, layers), num_attention_heads=16,
        image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    )
    text = LlamaConfig(
        vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=_depth(32, layers),
        num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=False,
        bos_token_id=ids["<s>"], eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"],
    )
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=ids["<image>"], projector_hidden_act="gelu",
        vision_feature_layer=-2, vision_feature_select_strategy="default", image_seq_length=576,
        pad_token_id=ids["<pad>"], tie_word_embeddings=False,
    )


def qwen2_5_vl_config(tok, layers: int | None):
    """Qwen/Qwen2.5-VL-3B-Instruct: a 32-block ViT (1280 wide, windowed) and a 36-layer, 2048-wide LM."""
    from transformers import Qwen2_5_VLConfig

    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                                      "<|vision_end|>", "<|vision_pad|>", "<|endoftext|>", "<|im_end|>")}
    depth = _depth(32, layers)
    full_attention = [i for i in (7, 15, 23, 31) if i < depth] or [depth - 1]
    text = dict(
        vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=_depth(36, layers),
        num_attention_heads=16, num_key_value_heads=2, hidden_act="silu", rms_norm_eps=1e-6, rope_theta=1000000.0,
        max_position_embeddings=128000, use_sliding_window=False, sliding_window=32768,
        max_window_layers=_depth(70, layers), rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        tie_word_embeddings=True, bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
    )
    vision = dict(
        depth=depth, hidden_size=1280, hidden_act="silu", intermediate_size=3420, num_heads=16, in_channels=3,
        patch_size=14, spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112,
        out_hidden_size=2048, fullatt_block_indexes=full_attention,
    )
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        vision_token_id=ids["<|vision_pad|>"], bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        tie_word_embeddings=True,
    )


def internvl_config(tok, layers: int | None):
    """OpenGVLab/InternVL3-2B-hf: InternViT-300M (24 layers, 448 px), Qwen2.5-1.5B (28 layers, 1536 wide)."""
    from transformers import InternVLConfig

    vision = dict(
        hidden_size=1024, num_hidden_layers=_depth(24, layers), num_attention_heads=16, intermediate_size=4096,
        image_size=[448, 448], patch_size=[14, 14], hidden_act="gelu", norm_type="layer_norm", layer_norm_eps=1e-6,
        attention_bias=True, use_qk_norm=False, use_mean_pooling=True, layer_scale_init_value=0.1,
        use_absolute_position_embeddings=True,
    )
    text = dict(
        model_type="qwen2", vocab_size=151674, hidden_size=1536, intermediate_size=8960, num_hidden_layers=_depth(28, layers),
        num_attention_heads=12, num_key_value_heads=2, hidden_act="silu", rms_norm_eps=1e-6, rope_theta=1000000.0,
        max_position_embeddings=32768, tie_word_embeddings=True,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
    )
    return InternVLConfig(
        vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=256, downsample_ratio=0.5, projector_hidden_act="gelu", vision_feature_layer=-1,
        vision_feature_select_strategy="default", tie_word_embeddings=True,
    )


@dataclass(frozen=True)
class Shape:
    """One published model: its config, the real image geometry and the benchmark image's size."""

    config: object
    processor_spec: dict
    image_size: tuple[int, int]


SHAPES = {
    "llava": Shape(llava_config, {"image_size": 336, "patch_size": 14}, (336, 336)),
    "qwen2_5_vl": Shape(
        qwen2_5_vl_config,
        {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2, "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 16384},
        (560, 560),
    ),
    "internvl": Shape(
        internvl_config,
        {"tile_size": 448, "patch_size": 14, "image_seq_length": 256, "min_patches": 1, "max_patches": 12},
        (896, 448),  # two tiles and the thumbnail
    ),
}
assert OPENAI_CLIP_MEAN and IMAGENET_MEAN  # the processors' normalisation is the twins' (the real values)


def _depth(published: int, layers: int | None) -> int:
    return published if layers is None else min(layers, published)


def word_level(tok, question: str):
    """The twins' byte-level tokenizer with the question's words added as tokens, so the query is
    13 tokens (as the real tokenizers split it) instead of 53 bytes."""
    from tokenizers import AddedToken

    words = question.replace("?", " ?").split()
    pieces = [words[0], *(" " + w for w in words[1:-1]), words[-1]]
    tok.add_tokens([AddedToken(p, normalized=False) for p in pieces])
    return tok


def build_adapter(arch: str, layers: int | None, device: torch.device, dtype: torch.dtype, batch_size: int):
    """A random-weight full-width model of ``arch`` behind its synfaith adapter (weights seeded)."""
    tok = word_level(build_tokenizer(arch), QUESTION)
    config = SHAPES[arch].config(tok, layers)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.random.fork_rng(devices=[]), torch.device(device):
            torch.manual_seed(0)
            model = model_class(arch)(config)
    finally:
        torch.set_default_dtype(default_dtype)
    processor = build_processor(arch, tok, SHAPES[arch].processor_spec)
    return adapter_for(arch)(model.eval(), processor, name=f"{arch} (full width, random weights)", batch_size=batch_size)


@dataclass
class Measurement:
    """One pair's cost with prefix sharing on or off."""

    arch: str
    pair: str
    prefix_sharing: bool
    seconds: float
    token_forwards: int
    evaluations: int
    peak_bytes: int | None


def _sii_masks(game, image_scores, text_scores, steps: int, sii_steps: int):
    """The coalitions the exact SII ground truth evaluates on its first ``sii_steps`` steps (centre-out)."""
    path = perturbation_path(image_scores, text_scores, steps, units=(game.n_image, game.n_text))
    order = sorted(range(path.steps), key=lambda k: (abs(k - (path.steps - 1) / 2), k))[:sii_steps]
    coalitions = all_coalitions(2 + DEFAULT_BACKGROUND_PLAYERS)
    image, text = [], []
    for k in order:
        players = macro_players(path.image_top[k], path.text_top[k], DEFAULT_BACKGROUND_PLAYERS, np.random.default_rng((0, k)))
        masks = PlayerGame(game, players).unit_masks(coalitions)
        image.append(masks[0])
        text.append(masks[1])
    return np.concatenate(image), np.concatenate(text)


def measure(adapter, prepared, target, pair: str, share: bool, args) -> Measurement:
    """Time one pair on a fresh game (empty cache) with prefix sharing ``share``."""
    adapter.prefix_cache = share
    game = adapter.game(prepared, target, batch_size=args.batch_size)
    rng = np.random.default_rng(0)
    image_scores, text_scores = rng.normal(size=prepared.n_image_units), rng.normal(size=prepared.n_text_units)
    _sync(adapter.device)
    with PeakMemory(adapter.device) as meter:
        start = time.perf_counter()
        if pair == "F_syn":
            synergistic_faithfulness(game, image_scores, text_scores, steps=args.steps)
        else:
            game.values(*_sii_masks(game, image_scores, text_scores, args.steps, args.sii_steps))
        _sync(adapter.device)
        seconds = time.perf_counter() - start
    return Measurement(adapter.name.split()[0], pair, share, seconds, game.token_forwards, game.evaluations, meter.peak)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark(arch: str, args) -> list[Measurement]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    started = time.perf_counter()
    adapter = build_adapter(arch, args.layers, device, dtype, args.batch_size)
    rng = np.random.default_rng(0)
    width, height = SHAPES[arch].image_size
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    prepared = adapter.prepare(Instance("bench", image, QUESTION))
    target = adapter.make_target(prepared, "Yes")
    tokens = int(adapter.sequence_ids(prepared, target).numel())
    print(f"\n{arch}: {prepared.n_image_units} visual units × {prepared.n_text_units} text units, {tokens} tokens "
          f"(prefix {prepared.layout.query_positions.min().item()}), built in {time.perf_counter() - started:.0f} s", flush=True)
    for share in (False, True):  # warm-up: kernels, allocator, the first call's one-off costs
        adapter.prefix_cache = share
        adapter.game(prepared, target).values(np.ones((2, prepared.n_image_units), bool), np.eye(2, prepared.n_text_units, dtype=bool))
    results = []
    pairs = ["F_syn"] + (["SII"] if args.sii_steps > 0 else [])
    for pair in pairs:
        for repeat in range(args.repeats):
            for share in (False, True) if repeat % 2 == 0 else (True, False):
                m = measure(adapter, prepared, target, pair, share, args)
                results.append(m)
                print(f"  {pair:<5} sharing {'on ' if share else 'off'}  {m.seconds:8.2f} s  {m.token_forwards:>9,} token-forwards  "
                      f"{m.evaluations:>5} evaluations  peak {human_bytes(m.peak_bytes)}", flush=True)
    del adapter
    return results


def summary(results: list[Measurement]) -> list[dict]:
    """Best-of-repeats per (arch, pair, sharing) and the ratios off / on."""
    lines = []
    for arch in dict.fromkeys(m.arch for m in results):
        for pair in dict.fromkeys(m.pair for m in results if m.arch == arch):
            best = {share: min((m for m in results if (m.arch, m.pair, m.prefix_sharing) == (arch, pair, share)), key=lambda m: m.seconds)
                    for share in (False, True)}
            off, on = best[False], best[True]
            lines.append({
                "arch": arch, "pair": pair, "seconds_off": off.seconds, "seconds_on": on.seconds, "speedup": off.seconds / on.seconds,
                "token_forwards_off": off.token_forwards, "token_forwards_on": on.token_forwards,
                "token_ratio": off.token_forwards / on.token_forwards, "evaluations": on.evaluations,
                "peak_off": off.peak_bytes, "peak_on": on.peak_bytes,
            })
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", choices=sorted(SHAPES), help="repeatable; default: all three")
    parser.add_argument("--layers", type=int, help="decoder and vision layers per model (default: the published depth)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--batch-size", type=int, default=16, help="coalitions per forward pass (the game's default)")
    parser.add_argument("--steps", type=int, default=11, help="K")
    parser.add_argument("--sii-steps", type=int, default=None, help="SII steps timed (default: all K; 0 skips SII)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved off/on repeats; the best is kept")
    parser.add_argument("--json", help="write the measurements and the summary here")
    args = parser.parse_args(argv)
    args.sii_steps = args.steps if args.sii_steps is None else min(args.sii_steps, args.steps)
    import transformers

    print(f"synfaith full-size benchmark: {' '.join(sys.argv)}")
    print(f"device {args.device}, {args.dtype}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}, {platform.processor() or platform.machine()}; layers: "
          f"{args.layers or 'published'}; batch {args.batch_size}; K = {args.steps}; SII over {args.sii_steps} of {args.steps} steps")
    results = []
    for arch in args.arch or list(SHAPES):
        results += benchmark(arch, args)
    lines = summary(results)
    print(f"\n{'model':<11} {'pair':<5} {'off s':>8} {'on s':>8} {'speed-up':>9} {'tokens off':>11} {'tokens on':>10} {'fewer':>6} "
          f"{'peak off':>10} {'peak on':>10}")
    for line in lines:
        print(f"{line['arch']:<11} {line['pair']:<5} {line['seconds_off']:8.2f} {line['seconds_on']:8.2f} {line['speedup']:8.2f}× "
              f"{line['token_forwards_off']:>11,} {line['token_forwards_on']:>10,} {line['token_ratio']:5.2f}× "
              f"{human_bytes(line['peak_off']):>10} {human_bytes(line['peak_on']):>10}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": sys.argv, "settings": vars(args), "measurements": [asdict(m) for m in results], "summary": lines}, handle, indent=2)


if __name__ == "__main__":
    main()
