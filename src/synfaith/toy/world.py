"""The toy VLM's world: its constants, tokenizer, processor, architecture and training config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from synfaith.data.synthetic import (
    FAMILIES,
    IMAGE_SIZE,
    SUBSETS,
    SceneSampler,
    to_instance,
)
from synfaith.models.prompts import build_user_text


PATCH = 16
N_IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<image>", "<pad>")
CAPTION_QUESTION = "Describe the image."
ANSWER_CUE = "Answer:"


def default_checkpoint() -> Path:
    """The shipped toy VLM checkpoint directory."""
    from synfaith.models.loading import toy_checkpoint

    return toy_checkpoint()


@dataclass
class TrainConfig:
    """Everything that determines a training run (the run is a function of this)."""

    seed: int = 0
    steps: int = 8500
    batch_size: int = 32
    learning_rate: float = 3e-4
    warmup_steps: int = 300
    weight_decay: float = 0.01
    caption_fraction: float = 0.35
    column_fraction: float = 0.1
    family_weights: dict[str, float] = field(default_factory=lambda: {"existence": 2.0, "counting": 0.5, "relation": 0.8})
    subset_weights: dict[str, float] = field(default_factory=lambda: {"synergy": 0.6, "redundant": 0.2, "prior": 0.2})
    blurred_fraction: float = 0.4  # of redundant and prior examples
    padded_query_fraction: float = 0.3  # of redundant examples
    eval_every: int = 500
    threads: int = 2
    # model size
    vision_hidden: int = 128
    vision_layers: int = 2
    text_hidden: int = 128
    text_layers: int = 3
    heads: int = 4
    vocab_size: int = 420


# ----------------------------------------------------------------------------------------
# Tokenizer, processor and model
# ----------------------------------------------------------------------------------------
def _corpus(seed: int, n: int = 6000) -> list[str]:
    rng = np.random.default_rng([seed, 7])
    sampler = SceneSampler(rng)
    lines = []
    for i in range(n):
        scene, question = sampler.sample(FAMILIES[i % 3], SUBSETS[(i // 3) % 3])
        instance = to_instance(scene, question, "corpus")
        lines.append(build_user_text(instance, ANSWER_CUE)[0])
        lines.append(" " + scene.caption())
    lines += [f" {word}" for word in ("Yes", "No", "A", "B", "C", "D", "1", "2", "3", "4")] * 200
    lines.append(CAPTION_QUESTION)
    return lines


def build_tokenizer(seed: int = 0, vocab_size: int = 420):
    """A byte-level BPE tokenizer learned on synthetic text, with LLaVA's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from synfaith.testing.twins_tokenizers import CHAT_TEMPLATES

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_corpus(seed), trainer=trainer)
    bos = core.token_to_id("<s>")
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        clean_up_tokenization_spaces=False,
        chat_template=CHAT_TEMPLATES["llava"],
        model_max_length=512,
    )


def build_processor(tokenizer):
    """The LLaVA processor: CLIP preprocessing at 64 px (a no-op resize for synthetic scenes)."""
    from transformers import CLIPImageProcessor

    from synfaith.models.processors import ImageOnlyLlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        resample=3,
        image_mean=CLIP_MEAN.tolist(),
        image_std=CLIP_STD.tolist(),
    )
    return ImageOnlyLlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        chat_template=tokenizer.chat_template,
        image_token="<image>",
        num_additional_image_tokens=1,
    )


def build_model(tokenizer, config: TrainConfig):
    """A randomly initialised toy LLaVA (seeded by ``config.seed``)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vocab = -(-len(tokenizer) // 64) * 64
    llava_config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=config.vision_hidden,
            intermediate_size=4 * config.vision_hidden,
            num_hidden_layers=config.vision_layers,
            num_attention_heads=config.heads,
            image_size=IMAGE_SIZE,
            patch_size=PATCH,
            projection_dim=config.vision_hidden,
        ),
        text_config=LlamaConfig(
            vocab_size=vocab,
            hidden_size=config.text_hidden,
            intermediate_size=3 * config.text_hidden,
            num_hidden_layers=config.text_layers,
            num_attention_heads=config.heads,
            num_key_value_heads=config.heads,
            max_position_embeddings=512,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        image_seq_length=N_IMAGE_TOKENS,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LlavaForConditionalGeneration(llava_config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def pixel_tensor(image) -> torch.Tensor:
    """CLIP-normalised [3, 64, 64] pixels of a 64×64 image (what the processor computes)."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(((array - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1).copy())
