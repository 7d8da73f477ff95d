"""Training the toy VLM: the example stream (captions, look-ups, questions) and the loop."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from synfaith.data.instance import Instance
from synfaith.data.synthetic import (
    FAMILIES,
    SUBSETS,
    SceneSampler,
    synthetic_instances,
    to_instance,
)
from synfaith.models.prompts import build_user_text
from synfaith.models.pixels import blurred_copy
from synfaith.toy.world import (
    ANSWER_CUE,
    CAPTION_QUESTION,
    N_IMAGE_TOKENS,
    TrainConfig,
    build_model,
    build_processor,
    build_tokenizer,
    pixel_tensor,
)
from synfaith.toy.evaluation import evaluate


# ----------------------------------------------------------------------------------------
# Training examples
# ----------------------------------------------------------------------------------------
@dataclass
class Example:
    prompt_ids: list[int]
    target_ids: list[int]
    pixels: torch.Tensor
    query_positions: list[int]


class ExampleEncoder:
    """Turns scenes and questions into token ids exactly as the LLaVA adapter prompts them."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.image_token = "<image>"
        self.eos = tokenizer.eos_token_id

    def prompt(self, user_text: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def encode(self, instance: Instance, target_text: str, pixels: torch.Tensor) -> Example:
        user_text, (start, end) = build_user_text(instance, ANSWER_CUE)
        prompt = self.prompt(user_text)
        offset = prompt.rfind(user_text)
        expanded = prompt.replace(self.image_token, self.image_token * N_IMAGE_TOKENS)
        shift = len(expanded) - len(prompt)  # the query follows the image placeholder
        encoded = self.tokenizer(expanded, return_offsets_mapping=True)
        lo, hi = offset + start + shift, offset + end + shift
        query = [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if a < hi and b > lo and b > a]
        target = self.tokenizer(target_text, add_special_tokens=False)["input_ids"] + [self.eos]
        return Example(encoded["input_ids"], target, pixels, query)


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def answer_text(instance: Instance) -> str:
    """The trained response: " Yes"/" No" or " A".." D" (one token each)."""
    return " " + (instance.answer.capitalize() if instance.choices is None else instance.answer)


class TrainingStream:
    """A deterministic stream of training batches (a function of the config's seed)."""

    def __init__(self, encoder: ExampleEncoder, config: TrainConfig) -> None:
        self.encoder = encoder
        self.config = config
        self.rng = np.random.default_rng([config.seed, 1])
        self.sampler = SceneSampler(np.random.default_rng([config.seed, 2]))
        self.pad = encoder.tokenizer.pad_token_id

    def example(self) -> Example:
        config, rng = self.config, self.rng
        kind = rng.random()
        if kind < config.caption_fraction:
            scene, _ = self.sampler.sample(str(rng.choice(FAMILIES)), "synergy")
            instance = Instance("caption", scene.render(), CAPTION_QUESTION)
            return self.encoder.encode(instance, " " + scene.caption(), pixel_tensor(instance.image))
        if kind < config.caption_fraction + config.column_fraction:
            scene, _ = self.sampler.sample("relation", "synergy")
            obj = scene.objects[int(rng.integers(len(scene.objects)))]
            if len(scene.matching(obj.colour, obj.shape)) == 1:
                instance = Instance("column", scene.render(), f"In which column is the {obj.name}?")
                return self.encoder.encode(instance, f" {obj.col + 1}", pixel_tensor(instance.image))
        family, subset = _choose(rng, config.family_weights), _choose(rng, config.subset_weights)
        scene, question = self.sampler.sample(family, subset)
        instance = to_instance(scene, question, "train")
        image = instance.image
        pad_query = False
        if subset in ("redundant", "prior"):
            roll = rng.random()
            if roll < config.blurred_fraction:
                image = blurred_copy(image)
            elif subset == "redundant" and roll < config.blurred_fraction + config.padded_query_fraction:
                pad_query = True
        example = self.encoder.encode(instance, answer_text(instance), pixel_tensor(image))
        if pad_query:
            for position in example.query_positions:
                example.prompt_ids[position] = self.pad
        return example

    def batch(self) -> dict[str, torch.Tensor]:
        examples = [self.example() for _ in range(self.config.batch_size)]
        return collate(examples, self.pad)


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, labels (loss on the target only) and pixels."""
    length = max(len(e.prompt_ids) + len(e.target_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    for i, e in enumerate(examples):
        sequence = e.prompt_ids + e.target_ids
        ids[i, : len(sequence)] = torch.tensor(sequence)
        labels[i, len(e.prompt_ids) : len(sequence)] = torch.tensor(e.target_ids)
        mask[i, : len(sequence)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "pixel_values": torch.stack([e.pixels for e in examples])}


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
@dataclass
class TrainingReport:
    config: dict
    curve: list[dict]
    seconds: float
    parameters: int
    accuracy: dict


def _learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train(out_dir: str | Path, config: TrainConfig | None = None, *, eval_per_cell: int = 40, progress: bool = True) -> TrainingReport:
    """Train the toy VLM from scratch and save it (with its training log) to ``out_dir``.

    Deterministic for a given config on a given machine and thread count: same seed, same
    batches, same initialisation.
    """
    from tqdm.auto import tqdm

    from synfaith.models.llava import LlavaAdapter

    config = config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)

    tokenizer = build_tokenizer(config.seed, config.vocab_size)
    processor = build_processor(tokenizer)
    model = build_model(tokenizer, config)
    adapter = LlavaAdapter(model, processor, name="toy-vlm (training)")
    validation = synthetic_instances(eval_per_cell // 2 or 1, split="validation")
    stream = TrainingStream(ExampleEncoder(tokenizer), config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    curve: list[dict] = []
    start = time.perf_counter()
    running = 0.0
    (out / "training_curve.jsonl").unlink(missing_ok=True)
    bar = tqdm(range(config.steps), desc="training toy VLM", unit="step", disable=not progress)
    for step in bar:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        loss = model(**stream.batch()).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            model.eval()
            accuracy = evaluate(adapter, validation)
            point = {"step": step + 1, "seconds": round(time.perf_counter() - start, 1), "loss": round(running, 4)}
            point.update({f"{f}/{s}": round(accuracy.get(f, s), 3) for f in FAMILIES for s in SUBSETS})
            curve.append(point)
            with open(out / "training_curve.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(point) + "\n")
            bar.set_postfix(loss=f"{running:.3f}", rel=point["relation/synergy"], ex=point["existence/synergy"])
    seconds = time.perf_counter() - start
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    final = evaluate(adapter, synthetic_instances(eval_per_cell, split="test"))
    report = TrainingReport(
        config=asdict(config),
        curve=curve,
        seconds=round(seconds, 1),
        parameters=sum(p.numel() for p in model.parameters()),
        accuracy=final.table,
    )
    (out / "training_log.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    (out / "training_curve.jsonl").unlink(missing_ok=True)  # the live log; training_log.json holds it
    return report

