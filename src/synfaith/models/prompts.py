"""The user message and where its query tokens sit in the model's input ids (docs/design.md §2).

Text units are the tokens of the question and its choices only — never the chat template,
the answer-format instruction, the answer cue or the image tokens.
"""

from __future__ import annotations

import torch

from synfaith.data.instance import Instance

MULTIPLE_CHOICE_INSTRUCTION = "Answer directly with only the letter inside parentheses, and nothing else."


class PromptLayoutError(ValueError):
    """The prompt's tokens could not be laid out (e.g. a question with no query tokens)."""


class ProcessorText:
    """Mixed into :class:`~synfaith.models.base.VLMAdapter`: what its ``prepare`` hands the processor."""

    def processor_text(self, prompt: str) -> str:
        """The text given to the processor for the rendered ``prompt``: the prompt itself, unless the
        processor writes part of the prompt itself (PaliGemma's adds ``<bos>`` and the final ``\\n``)."""
        return prompt


def build_user_text(instance: Instance, answer_cue: str | None = None) -> tuple[str, tuple[int, int]]:
    """The user message and the character span of its query part (question + choices).

    Yes/no questions are asked plainly; multiple choice appends the options as ``(A) …`` lines
    and the paper's instruction. ``answer_cue`` (e.g. LLaVA-1.5's ``"Answer:"``) is appended
    last. Neither instruction nor cue is part of the query.
    """
    query = instance.question.strip()
    if instance.choices:
        options = "\n".join(f"({letter}) {choice}" for letter, choice in zip(instance.choice_letters, instance.choices))
        query = f"{query}\n{options}"
    text = query
    if instance.choices:
        text += "\n" + MULTIPLE_CHOICE_INSTRUCTION
    if answer_cue:
        text += "\n" + answer_cue
    return text, (0, len(query))


def align_query_tokens(tokenizer, instance, prompt, input_ids, query_range, visual_positions):
    """Positions of the tokens overlapping the query's characters.

    The prompt is tokenised without expanding the image placeholder, with offsets; the
    query follows the image in every template, so its tokens sit at the same distance
    from the end of the expanded ids, which is checked token by token.
    """
    plain = tokenizer(prompt, return_offsets_mapping=True)
    plain_ids, offsets = plain["input_ids"], plain["offset_mapping"]
    start, end = query_range
    plain_positions = [i for i, (a, b) in enumerate(offsets) if a < end and b > start and b > a]
    if not plain_positions:
        raise PromptLayoutError(f"instance {instance.id!r}: the question has no query tokens")
    shift = input_ids.numel() - len(plain_ids)
    positions = torch.tensor([p + shift for p in plain_positions], dtype=torch.long)
    last_visual = int(visual_positions.max()) if visual_positions.numel() else -1
    if int(positions.min()) <= last_visual or any(
        int(input_ids[p + shift]) != plain_ids[p] for p in plain_positions
    ):
        raise PromptLayoutError(
            f"instance {instance.id!r}: cannot align the query tokens with the processor's input ids "
            "(the query must follow the image in the chat template)"
        )
    spans = tuple((max(offsets[p][0], start) - start, min(offsets[p][1], end) - start) for p in plain_positions)
    return positions, spans
