"""The adapter contract: a Hugging Face VLM as a synfaith game plus white-box access.

An adapter turns an :class:`~synfaith.data.Instance` into a :class:`Prepared` input (the
prompt in the model's own chat template, the token layout, the visual unit grid, the clean
and blurred pixel tensors), generates the :class:`Target` answer once, and scores masked
variants in batches as a :class:`VLMGame` (DESIGN.md §2). Model-specific code — how pixels
map to units and how the vision tower is called — lives in one subclass per architecture;
everything else, including the teacher-forced joint probability, is shared here.

Special-token ids, templates and grids come from the checkpoint's own config, tokenizer and
processor; nothing is hard-coded per model.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from contextlib import contextmanager
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image, ImageDraw

from synfaith.contracts import ATTENTION, DEFAULT_ZERO_STATE, GAME, WHITE_BOX, Prepared, Target, TokenLayout, ZeroState
from synfaith.data.instance import Instance
from synfaith.games.base import Game
from synfaith.models.answers import AnswerFormat, answer_format_for, answer_token_span, is_correct
from synfaith.models.pixels import PixelViews, blurred_copy

MULTIPLE_CHOICE_INSTRUCTION = "Answer directly with only the letter inside parentheses, and nothing else."


class PromptLayoutError(ValueError):
    """The prompt's tokens could not be laid out (e.g. a question with no query tokens)."""


def answer_log_prob(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """``Σ_j log softmax(logits)[answer_j]`` over the last ``a`` positions, in float64: shape [B].

    The log of the game's value; white-box explainers differentiate the same scalar.
    """
    n_answer = target.answer_ids.numel()
    log_probs = torch.log_softmax(logits[:, -n_answer:].double(), dim=-1)
    answer = target.answer_ids.to(logits.device)[None, :, None].expand(logits.shape[0], -1, 1)
    return log_probs.gather(-1, answer).squeeze(-1).sum(-1)


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


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def map_ground_truth(prepared: Prepared, pixel_tensor) -> tuple[np.ndarray, np.ndarray]:
    """Map an instance's model-agnostic ground truth onto a model's units.

    Args:
        prepared: the prepared instance (its pixel views say which element is which unit).
        pixel_tensor: the model's preprocessing, ``PIL image -> pixel tensor``.

    Returns:
        ``(image_coverage float[m], text_hits bool[n])``: the fraction of each visual unit's
        pixels (in every view) inside an evidence box, computed by sending a box mask through
        the same preprocessing as the image; and which query units overlap a deciding word.
    """
    truth = prepared.instance.ground_truth
    coverage = np.zeros(prepared.n_image_units)
    text_hits = np.zeros(prepared.n_text_units, dtype=bool)
    if truth is None:
        return coverage, text_hits
    if truth.boxes:
        width, height = prepared.image_size
        mask = Image.new("RGB", (width, height), (0, 0, 0))
        draw = ImageDraw.Draw(mask)
        for box in truth.boxes:
            draw.rectangle([box.left, box.top, box.right - 1, box.bottom - 1], fill=(255, 255, 255))
        black = pixel_tensor(Image.new("RGB", (width, height), (0, 0, 0)))
        white = pixel_tensor(Image.new("RGB", (width, height), (255, 255, 255)))
        coverage = prepared.pixels.unit_coverage(pixel_tensor(mask) > (black + white) / 2)
    query = prepared.query_text.lower()
    for word in truth.words:
        for match in re.finditer(rf"\b{re.escape(word.lower())}\b", query):
            for unit, (a, b) in enumerate(prepared.layout.query_spans):
                if a < match.end() and b > match.start():
                    text_hits[unit] = True
    return coverage, text_hits


class VLMAdapter(ABC):
    """A Hugging Face VLM behind synfaith's adapter contract.

    Args:
        model: the ``*ForConditionalGeneration`` model.
        processor: its processor (image processor + tokenizer + chat template).
        name: the checkpoint's name or path, for records.
        max_new_tokens: bound of greedy decoding in :meth:`generate_target`.
        batch_size: masked variants per forward pass of the game.
        answer_cue: text appended to every user message (not a query unit).
    """

    model_types: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset({GAME, WHITE_BOX, ATTENTION})
    default_answer_cue: ClassVar[str | None] = None

    def __init__(
        self,
        model,
        processor,
        *,
        name: str = "",
        max_new_tokens: int = 10,
        batch_size: int = 16,
        answer_cue: str | None = "default",
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.answer_cue = self.default_answer_cue if answer_cue == "default" else answer_cue
        self.image_token_id = int(model.config.image_token_id)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            raise ValueError(
                f"the tokenizer of {name or type(model).__name__} has no pad token, which the textual "
                "zero-state needs; set tokenizer.pad_token before building the adapter"
            )
        self.pad_token_id = int(pad_id)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path, *, device: str | torch.device | None = "cpu", dtype: str | torch.dtype = "auto", **options
    ) -> VLMAdapter:
        """Load model and processor from a local checkpoint directory."""
        from synfaith.models.processors import load_processor

        device = _resolve_device(device)
        if dtype == "auto":
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        model_kwargs = {k: options.pop(k) for k in ("attn_implementation",) if k in options}
        model = cls.model_class().from_pretrained(path, dtype=dtype, **model_kwargs).to(device)
        processor = load_processor(path)
        return cls(model, processor, name=str(path), **options)

    @classmethod
    @abstractmethod
    def model_class(cls):
        """The transformers ``*ForConditionalGeneration`` class of this architecture."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- model-specific hooks --------------------------------------------------------------
    @abstractmethod
    def image_processor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the processor's image part (resolution caps, tiling)."""

    @abstractmethod
    def unit_layout(
        self,
        pixel_values: torch.Tensor,
        image_inputs: dict[str, torch.Tensor],
        n_visual_tokens: int,
        image_size: tuple[int, int],
    ):
        """``(unit_index, n_units, unit_grid, token_units)`` for this preprocessed image.

        Args:
            pixel_values: the processor's pixel tensor for one image.
            image_inputs: the processor's other image outputs (e.g. ``image_grid_thw``).
            n_visual_tokens: image tokens in the prompt's input ids.
            image_size: the original image's (width, height).
        """

    @abstractmethod
    def image_features(self, pixel_values: torch.Tensor, n_variants: int, image_inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Projected visual token embeddings of ``n_variants`` batched images: [U, v, d]."""

    def language_model_inputs(self, input_ids: torch.Tensor, image_inputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Extra forward arguments when calling the model with ``inputs_embeds``."""
        return {}

    # -- white-box access ----------------------------------------------------------------
    @property
    def language_layers(self) -> torch.nn.ModuleList:
        """The decoder blocks of the language model."""
        return self.model.model.language_model.layers

    @property
    def vision_tower(self) -> torch.nn.Module:
        """The vision encoder (``model.model.vision_tower`` in LLaVA-style models)."""
        return self.model.model.vision_tower

    @property
    def projector(self) -> torch.nn.Module:
        """The module mapping vision features into the LM's embedding space."""
        return self.model.model.multi_modal_projector

    def set_eager_attention(self) -> None:
        """Use eager attention so that attention weights can be returned (``output_attentions``)."""
        self.model.set_attn_implementation("eager")

    @contextmanager
    def eager_attention(self):
        """Eager attention inside the block, the previous implementation restored after it."""
        previous = self.model.config._attn_implementation
        if previous == "eager":
            yield
            return
        self.set_eager_attention()
        try:
            yield
        finally:
            self.model.set_attn_implementation(previous)

    def pixel_extremes(self, prepared: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel tensors of an all-black and an all-white image of the instance's size.

        Preprocessing is affine per element, so ``white − black`` is each element's scale of
        one unit on the [0, 1] image scale and ``black`` is the pure-black baseline.
        """
        width, height = prepared.image_size
        black = self.pixel_tensor(Image.new("RGB", (width, height), (0, 0, 0)))
        white = self.pixel_tensor(Image.new("RGB", (width, height), (255, 255, 255)))
        return black, white

    # -- preparing an instance -------------------------------------------------------------
    def render_prompt(self, user_text: str) -> str:
        """The user message in the checkpoint's own chat template, ready for the answer."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def pixel_tensor(self, image: Image.Image) -> torch.Tensor:
        """The processor's pixel tensor for one image (same geometry as :meth:`prepare` uses)."""
        out = self.processor.image_processor(images=image, return_tensors="pt", **self.image_processor_kwargs())
        return out["pixel_values"]

    def prepare(self, instance: Instance, zero_state: ZeroState = DEFAULT_ZERO_STATE) -> Prepared:
        """Prompt, token layout, unit grid and clean/zero-state pixels of one instance."""
        image = instance.load_image()
        user_text, (query_start, query_end) = build_user_text(instance, self.answer_cue)
        prompt = self.render_prompt(user_text)
        offset = prompt.rfind(user_text)
        if offset < 0:
            raise PromptLayoutError(f"the chat template changed the user text of instance {instance.id!r}")
        query_range = (offset + query_start, offset + query_end)

        encoded = self.processor(images=image, text=prompt, return_tensors="pt", **self.image_processor_kwargs())
        input_ids = encoded["input_ids"][0]
        clean = encoded["pixel_values"]
        image_inputs = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask", "pixel_values")}
        blurred = self.pixel_tensor(blurred_copy(image, zero_state.blur_radius(image.size)))
        visual_positions = torch.nonzero(input_ids == self.image_token_id).flatten()
        query_positions, query_spans = self._query_tokens(instance, prompt, input_ids, query_range, visual_positions)
        unit_index, n_units, unit_grid, token_units = self.unit_layout(
            clean, image_inputs, visual_positions.numel(), image.size
        )
        return Prepared(
            instance=instance,
            prompt=prompt,
            query_text=prompt[query_range[0] : query_range[1]],
            layout=TokenLayout(input_ids, visual_positions, query_positions, query_spans),
            pixels=PixelViews(clean=clean, blurred=blurred, unit_index=unit_index, n_units=n_units),
            unit_grid=unit_grid,
            token_units=token_units,
            image_inputs=image_inputs,
            image_size=image.size,
            zero_state=zero_state,
        )

    def _query_tokens(self, instance, prompt, input_ids, query_range, visual_positions):
        """Positions of the tokens overlapping the query's characters.

        The prompt is tokenised without expanding the image placeholder, with offsets; the
        query follows the image in every template, so its tokens sit at the same distance
        from the end of the expanded ids, which is checked token by token.
        """
        plain = self.tokenizer(prompt, return_offsets_mapping=True)
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

    # -- modified inputs (for influence and stability probes) -------------------------------
    def modified(
        self,
        prepared: Prepared,
        *,
        image_zero_state: bool = False,
        masked_text_units: Sequence[int] = (),
        pixel_noise: float = 0.0,
        seed: int = 0,
    ) -> Prepared:
        """The same instance with its *clean* input changed, so explainers see the change.

        Args:
            image_zero_state: replace the image by its zero-state (the blurred copy) everywhere.
            masked_text_units: query units replaced by the pad token (the textual zero-state).
            pixel_noise: std of Gaussian noise added to the pixels, on the [0, 1] image scale.
            seed: seed of the noise.

        The zero-state pixels (``blurred``) are unchanged, so games on the result mask towards
        the same reference.
        """
        from dataclasses import replace

        clean = prepared.pixels.blurred if image_zero_state else prepared.pixels.clean
        if pixel_noise > 0:
            black, white = self.pixel_extremes(prepared)
            generator = torch.Generator().manual_seed(seed)
            noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64)
            clean = (clean.double() + pixel_noise * (white - black).double() * noise).to(clean.dtype)
        input_ids = prepared.layout.input_ids
        if len(masked_text_units):
            input_ids = input_ids.clone()
            input_ids[prepared.layout.query_positions[list(masked_text_units)]] = self.pad_token_id
        return replace(
            prepared,
            pixels=replace(prepared.pixels, clean=clean),
            layout=replace(prepared.layout, input_ids=input_ids),
        )

    # -- ground truth ----------------------------------------------------------------------
    def ground_truth_units(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """Map an instance's model-agnostic ground truth onto this model's units (see :func:`map_ground_truth`)."""
        return map_ground_truth(prepared, self.pixel_tensor)

    # -- the target ------------------------------------------------------------------------
    def _model_inputs(self, prepared: Prepared) -> dict[str, torch.Tensor]:
        device = self.device
        inputs = {
            "input_ids": prepared.layout.input_ids[None].to(device),
            "attention_mask": torch.ones(1, prepared.layout.input_ids.numel(), dtype=torch.long, device=device),
            "pixel_values": prepared.pixels.clean.to(device, self.model.dtype),
        }
        inputs.update({k: v.to(device) for k, v in prepared.image_inputs.items()})
        return inputs

    def generate_target(self, prepared: Prepared, answer_format: AnswerFormat | None = None) -> Target:
        """Greedy decoding on the clean input, cut to the answer token(s) by regex.

        Raises:
            UnparseableAnswerError: the response holds no answer of the expected format.
        """
        answer_format = answer_format or answer_format_for(prepared.instance)
        with torch.inference_mode():
            output = self.model.generate(
                **self._model_inputs(prepared),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.pad_token_id,
            )
        # a normal tensor, not an inference tensor: explainers differentiate through its use
        new_ids = output[0, prepared.layout.input_ids.numel() :].cpu().clone()
        ends = [len(self.tokenizer.decode(new_ids[: i + 1], skip_special_tokens=True)) for i in range(new_ids.numel())]
        response = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        parsed, first, last = answer_token_span(ends, response, answer_format)
        return Target(
            response=response,
            answer=parsed.answer,
            prefix_ids=new_ids[:first],
            answer_ids=new_ids[first : last + 1],
            correct=is_correct(prepared.instance, parsed.answer, answer_format),
        )

    def make_target(self, prepared: Prepared, answer_text: str, prefix_text: str = "") -> Target:
        """A target from given text (teacher forcing a chosen answer, e.g. the reference)."""
        answer_ids = torch.tensor(self.tokenizer(answer_text, add_special_tokens=False)["input_ids"], dtype=torch.long)
        prefix_ids = torch.tensor(self.tokenizer(prefix_text, add_special_tokens=False)["input_ids"], dtype=torch.long)
        if answer_ids.numel() == 0:
            raise ValueError("the answer text has no tokens")
        return Target(prefix_text + answer_text, answer_text, prefix_ids, answer_ids, None)

    # -- scoring ---------------------------------------------------------------------------
    def sequence_ids(self, prepared: Prepared, target: Target) -> torch.Tensor:
        """Prompt + prefix + answer[:-1]: the teacher-forced input whose last ``a`` logits score the answer."""
        return torch.cat([prepared.layout.input_ids, target.prefix_ids, target.answer_ids[:-1]])

    def merged_embeddings(
        self, input_ids: torch.Tensor, image_features: torch.Tensor, prepared: Prepared
    ) -> torch.Tensor:
        """Token embeddings [B, L, d] with the image features written at the visual positions."""
        return self.write_image_features(self.model.get_input_embeddings()(input_ids), image_features, prepared)

    @staticmethod
    def write_image_features(token_embeds: torch.Tensor, image_features: torch.Tensor, prepared: Prepared) -> torch.Tensor:
        """``token_embeds`` [B, L, d] with ``image_features`` [B, v, d] at the visual positions (differentiable)."""
        positions = prepared.layout.visual_positions.to(token_embeds.device)
        index = positions[None, :, None].expand(token_embeds.shape[0], -1, token_embeds.shape[-1])
        return token_embeds.scatter(1, index, image_features.to(token_embeds.dtype))

    def embedded_inputs(
        self, prepared: Prepared, target: Target, pixel_values: torch.Tensor | None = None, n_variants: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher-forced sequence as merged embeddings, for white-box explainers.

        Gradients flow from the returned ``inputs_embeds`` [U, L, d] back to ``pixel_values``
        (the clean pixels by default; pass a tensor with ``requires_grad`` to get pixel
        gradients) and to the token embeddings. Call ``.detach().requires_grad_()`` on the
        result for gradients with respect to the embeddings themselves.

        Args:
            pixel_values: ``n_variants`` images concatenated along dim 0 as :meth:`PixelViews.masked`
                returns them (e.g. noisy copies).
            n_variants: how many images ``pixel_values`` holds (U).

        Returns:
            ``(inputs_embeds, input_ids)``; run them with :meth:`forward_embeddings`. The
            logit at position ``L − a + j`` scores answer token j (``a`` answer tokens).
        """
        device = self.device
        if pixel_values is None:
            pixel_values = prepared.pixels.clean.to(device, self.model.dtype)
        image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}
        input_ids = self.sequence_ids(prepared, target).to(device)[None].repeat(n_variants, 1)
        features = self.image_features(pixel_values, n_variants, image_inputs)
        return self.merged_embeddings(input_ids, features, prepared), input_ids

    def forward_embeddings(self, inputs_embeds: torch.Tensor, input_ids: torch.Tensor, prepared: Prepared, **kwargs):
        """Run the model on merged embeddings (``input_ids`` only supply position information)."""
        batch = inputs_embeds.shape[0]
        image_inputs = {k: torch.cat([v] * batch) for k, v in prepared.image_inputs.items()}
        image_inputs = {k: v.to(inputs_embeds.device) for k, v in image_inputs.items()}
        return self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device),
            use_cache=False,
            **self.language_model_inputs(input_ids, image_inputs),
            **kwargs,
        )

    def _masked_logits(
        self, prepared: Prepared, sequence: torch.Tensor, image_keep: np.ndarray, text_keep: np.ndarray, n_logits: int
    ) -> torch.Tensor:
        """The last ``n_logits`` logits [B, n_logits, V] of ``sequence`` under B unit masks.

        The vision tower runs once per *distinct* image mask in the batch; masked query tokens
        become the pad token (same length, so variants batch without re-padding).
        """
        image_keep = np.asarray(image_keep, dtype=bool)
        text_keep = torch.as_tensor(np.asarray(text_keep, dtype=bool))
        device = self.device
        distinct_images, which_image = np.unique(image_keep, axis=0, return_inverse=True)
        pixels = prepared.pixels.masked(distinct_images).to(device, self.model.dtype)
        image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}
        features = self.image_features(pixels, distinct_images.shape[0], image_inputs)
        features = features[torch.as_tensor(which_image.ravel(), device=device)]

        input_ids = sequence.to(device).repeat(image_keep.shape[0], 1)
        query = prepared.layout.query_positions.to(device)
        input_ids[:, query] = torch.where(
            text_keep.to(device), input_ids[:, query], torch.full_like(input_ids[:, query], self.pad_token_id)
        )
        embeds = self.merged_embeddings(input_ids, features, prepared)
        return self.forward_embeddings(embeds, input_ids, prepared, logits_to_keep=n_logits).logits[:, -n_logits:]

    @torch.inference_mode()
    def target_probabilities(
        self, prepared: Prepared, target: Target, image_keep: np.ndarray, text_keep: np.ndarray
    ) -> np.ndarray:
        """Joint probability of the target for a batch of masked variants: float[B].

        ``f = exp(Σ_j log softmax(logits)[target_j])`` over the answer positions, teacher-forced
        after the prompt and the generated prefix.
        """
        n_answer = target.answer_ids.numel()
        logits = self._masked_logits(prepared, self.sequence_ids(prepared, target), image_keep, text_keep, n_answer)
        return torch.exp(answer_log_prob(logits, target)).cpu().numpy()

    @torch.inference_mode()
    def next_token_logits(self, prepared: Prepared, image_keep: np.ndarray, text_keep: np.ndarray) -> torch.Tensor:
        """Logits [B, V] of the first answer token after the prompt, under B unit masks."""
        return self._masked_logits(prepared, prepared.layout.input_ids, image_keep, text_keep, 1)[:, 0].float().cpu()

    def game(self, prepared: Prepared, target: Target, *, batch_size: int | None = None) -> VLMGame:
        """The game ``v(A, B)`` = joint target probability with units outside A, B masked."""
        return VLMGame(self, prepared, target, batch_size=batch_size or self.batch_size)


class VLMGame(Game):
    """A synfaith game backed by a VLM adapter (one instance, one target)."""

    def __init__(self, adapter: VLMAdapter, prepared: Prepared, target: Target, **options) -> None:
        super().__init__(prepared.n_image_units, prepared.n_text_units, **options)
        self.adapter = adapter
        self.prepared = prepared
        self.target = target

    def _evaluate(self, image_keep: np.ndarray, text_keep: np.ndarray) -> np.ndarray:
        return self.adapter.target_probabilities(self.prepared, self.target, image_keep, text_keep)
