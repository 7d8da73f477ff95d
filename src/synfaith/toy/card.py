"""The toy VLM's model card: training curve, held-out accuracy, redundancy profile, sanity rows."""

from __future__ import annotations

import json
from pathlib import Path


from synfaith.data.synthetic import (
    FAMILIES,
    SUBSETS,
    synthetic_instances,
)
from synfaith.toy.evaluation import evaluate


# ----------------------------------------------------------------------------------------
# Model card
# ----------------------------------------------------------------------------------------
def write_model_card(checkpoint: str | Path, *, eval_per_cell: int = 100) -> Path:
    """Evaluate a toy checkpoint on the held-out test split and write its ``MODEL_CARD.md``."""
    from synfaith.runs.planted import redundancy_by_subset, sanity_table
    from synfaith.models.loading import load_model

    checkpoint = Path(checkpoint)
    log = json.loads((checkpoint / "training_log.json").read_text())
    adapter = load_model(checkpoint)
    instances = synthetic_instances(eval_per_cell, split="test")
    accuracy = evaluate(adapter, instances)
    profile = redundancy_by_subset(adapter, synthetic_instances(max(10, eval_per_cell // 4), split="test"))
    probe = evaluate(adapter, synthetic_instances(eval_per_cell, split="test", subsets=("prior_conflict",)))
    size_mb = sum(p.stat().st_size for p in checkpoint.iterdir() if p.is_file()) / 2**20
    config = log["config"]

    lines = [
        "# Toy VLM — model card",
        "",
        "synfaith's embedded default model: a small LLaVA (`LlavaForConditionalGeneration`: CLIP vision",
        "tower, Llama LM, two-layer projector) trained from scratch on the synthetic world",
        "(`synfaith.data.synthetic`). It loads through the LLaVA-1.5 adapter like `llava-hf/llava-1.5-7b-hf`.",
        "",
        "## Model",
        "",
        f"- parameters: {log['parameters']:,}; checkpoint directory: {size_mb:.1f} MiB",
        f"- vision: 64 px images, patch 16 → 4×4 = 16 image tokens (one per grid cell); hidden {config['vision_hidden']}, "
        f"{config['vision_layers']} layers",
        f"- language model: hidden {config['text_hidden']}, {config['text_layers']} layers, {config['heads']} heads; "
        "byte-level BPE tokenizer learned on synthetic text; LLaVA-1.5 chat template",
        "- prompt: `USER: <image>\\n{question}[\\n(A) …][\\ninstruction]\\nAnswer: ASSISTANT:`; answers ` Yes`/` No`/` A`…",
        "",
        "## Training",
        "",
        f"`synfaith toy train --out DIR --steps {config['steps']} --seed {config['seed']}` — {config['steps']} steps of "
        f"batch {config['batch_size']}, AdamW lr {config['learning_rate']} (warm-up {config['warmup_steps']}, cosine to 10%), "
        f"{config['threads']} CPU threads: **{log['seconds'] / 60:.1f} minutes** on the machine that trained it.",
        f"Mixture: captions {config['caption_fraction']:.0%}, column look-ups {config['column_fraction']:.0%}, "
        f"questions otherwise (families {config['family_weights']}, subsets {config['subset_weights']}); "
        f"redundant and prior questions with the blurred image {config['blurred_fraction']:.0%} of the time, "
        f"redundant ones with the query padded {config['padded_query_fraction']:.0%} of the time.",
        "",
        "Training curve (validation split, clean inputs, greedy answer):",
        "",
        "| step | minutes | loss | " + " | ".join(f"{f[:5]}/{s[:4]}" for f in FAMILIES for s in SUBSETS) + " |",
        "|---" * (3 + len(FAMILIES) * len(SUBSETS)) + "|",
    ]
    for point in log["curve"]:
        cells = " | ".join(f"{point[f'{f}/{s}']:.2f}" for f in FAMILIES for s in SUBSETS)
        lines.append(f"| {point['step']} | {point['seconds'] / 60:.1f} | {point['loss']:.3f} | {cells} |")
    lines += [
        "",
        f"## Held-out accuracy (test split, {accuracy.n_per_cell} instances per family × subset)",
        "",
        "Greedy first answer token; *image masked* = every visual unit at its blurred zero-state,",
        "*query masked* = every query token replaced by the pad token (docs/design.md §2).",
        "",
        "| family | subset | clean | image masked | query masked |",
        "|---|---|---|---|---|",
    ]
    for family in FAMILIES:
        for subset in SUBSETS:
            row = accuracy.table[family][subset]
            lines.append(f"| {family} | {subset} | {row['clean']:.2f} | {row['image_masked']:.2f} | {row['query_masked']:.2f} |")
    lines += [
        "",
        "Chance: existence 0.50, counting 0.25, relation 0.50.",
        "",
        "Prior-conflict probe (black shapes that break the planted bias; not trained on):",
        "",
        "| family | clean | image masked |",
        "|---|---|---|",
    ]
    for family in FAMILIES:
        row = probe.table[family]["prior_conflict"]
        lines.append(f"| {family} | {row['clean']:.2f} | {row['image_masked']:.2f} |")
    lines += [
        "",
        "## Modality redundancy profile",
        "",
        "Mean dividend Δ = v(V,T) − v(V,∅) − v(∅,T) + v(∅,∅) of the model's own answer (> 0 synergy,",
        "< 0 redundancy):",
        "",
        "| subset | mean Δ |",
        "|---|---|",
        *[f"| {subset} | {value:+.3f} |" for subset, value in sorted(profile.items())],
        "",
        "## Planted-evidence sanity check",
        "",
        *sanity_table(adapter, n=max(50, eval_per_cell // 2)),
        "",
        "## Design notes",
        "",
        "- The relation family asks which half of the image an object is in. An earlier version asked",
        "  object-to-object relations (\"is the red circle left or right of the blue square?\"); with the",
        "  same recipe it stayed near chance (0.58 on the test split after 7,000 steps, 21 minutes), as",
        "  the feasibility study before the project had found, so it was replaced to keep training",
        "  within 30 CPU minutes.",
        "- *Query masked* accuracy can fall below chance: with every query token padded the model often",
        "  answers with a token that is not a valid answer at all (the question is gone, not just unclear).",
        "- Redundant instances were trained with the image blurred or the query padded part of the time,",
        "  so either modality alone decides them — the modality-level redundancy the profile measures.",
        "",
        "Regenerate this card with `synfaith toy card --checkpoint DIR`.",
        "",
    ]
    path = checkpoint / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
