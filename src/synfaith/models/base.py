"""The adapter contract: a Hugging Face VLM as a synfaith game plus white-box access.

An adapter turns an :class:`~synfaith.data.Instance` into a :class:`Prepared` input (the
prompt in the model's own chat template, the token layout, the visual unit grid, the clean
and blurred pixel tensors), generates the :class:`Target` answer once, and scores masked
variants in batches as a :class:`VLMGame` (docs/design.md §2). Model-specific code — how pixels
map to units and how the vision tower is called — lives in one subclass per architecture;
everything else, including the teacher-forced joint probability, is shared here.

Special-token ids, templates and grids come from the checkpoint's own config, tokenizer and
processor; nothing is hard-coded per model.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from synfaith.contracts import ATTENTION, DEFAULT_ZERO_STATE, GAME, IMAGE_TOKENS, WHITE_BOX, Prepared, Target, TokenLayout, ZeroState
from synfaith.data.instance import Instance
from synfaith.games.base import Game
from synfaith.models.answers import AnswerFormat, OpenAnswer, answer_format_for, answer_token_span, is_correct
from synfaith.models.ground_truth import UnitMapping
from synfaith.models.memory import BatchSizeProbe, parse_bytes, probe_batch_size
from synfaith.models.pixels import PixelViews, blurred_copy
from synfaith.models.prefix import prefix_length, shared_prefix_logits
from synfaith.models.prompts import ProcessorText, PromptLayoutError, align_query_tokens, build_user_text
from synfaith.models.white_box import WhiteBoxAccess

def answer_log_prob(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """``Σ_j log softmax(logits)[answer_j]`` over the last ``a`` positions, in float64: shape [B].

    The log of the game's value; white-box explainers differentiate the same scalar.
    """
    n_answer = target.answer_ids.numel()
    log_probs = torch.log_softmax(logits[:, -n_answer:].double(), dim=-1)
    answer = target.answer_ids.to(logits.device)[None, :, None].expand(logits.shape[0], -1, 1)
    return log_probs.gather(-1, answer).squeeze(-1).sum(-1)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ContextLengthError(ValueError):
    """An instance's prompt does not fit in the model's context."""


class VLMAdapter(WhiteBoxAccess, UnitMapping, ProcessorText, ABC):
    """A Hugging Face VLM behind synfaith's adapter contract.

    Args:
        model: the ``*ForConditionalGeneration`` model.
        processor: its processor (image processor + tokenizer + chat template).
        name: the checkpoint's name or path, for records.
        max_new_tokens: bound of greedy decoding in :meth:`generate_target`.
        batch_size: masked variants per forward pass of the game, or ``"auto"``: the largest
            batch that fits in the device's free memory, probed once on the first game
            (:mod:`synfaith.models.memory`; said in one line on stderr).
        memory_budget: the most memory ``batch_size: auto`` may fill (``"8GiB"``, bytes), below
            what the device has free.
        answer_cue: text appended to every user message (not a query unit).
        prefix_cache: run the prompt before the first query token once per distinct image mask
            and only the suffix per coalition (:mod:`synfaith.models.prefix`; exact). ``"auto"``
            (default) shares whenever it saves at least a tenth of a batch's tokens (on the toy
            VLM's 46-token prompts too: its exact SII ran 1.48× and F_syn 1.14× faster shared),
            and not where every coalition has its own image mask; True always, False never.
    """

    model_types: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset({GAME, WHITE_BOX, ATTENTION, IMAGE_TOKENS})
    default_answer_cue: ClassVar[str | None] = None
    # False where the prompt before the first query token also attends to later tokens (a
    # prefix-LM such as PaliGemma): its keys and values then depend on the query, so they
    # cannot be shared across coalitions
    prefix_sharing_applies: ClassVar[bool] = True

    def __init__(
        self,
        model,
        processor,
        *,
        name: str = "",
        max_new_tokens: int = 10,
        batch_size: int | str = 16,
        answer_cue: str | None = "default",
        prefix_cache: bool | str = "auto",
        memory_budget: int | str | None = None,
    ) -> None:
        if prefix_cache not in (True, False, "auto"):
            raise ValueError(f"prefix_cache must be true, false or 'auto', got {prefix_cache!r}")
        if prefix_cache is True and not self.prefix_sharing_applies:
            raise ValueError(f"prefix_cache=true does not apply to {type(self).__name__}: its prompt attends bidirectionally; leave it 'auto'")
        if batch_size != "auto" and not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
        self.memory_budget = parse_bytes(memory_budget)
        self.batch_size_probe: BatchSizeProbe | None = None
        self.model = model.eval()
        self.prefix_cache = prefix_cache if self.prefix_sharing_applies else False
        self.token_forwards = 0  # tokens run through the language model by the game's scoring
        self.forward_passes = self.backward_passes = 0  # sequences run forward / backward (WhiteBoxAccess.count_passes)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.answer_cue = self.default_answer_cue if answer_cue == "default" else answer_cue
        self.image_token_id = self._image_token_id()
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
        device = _resolve_device(device)
        if dtype == "auto":
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        model_kwargs = {k: options.pop(k) for k in ("attn_implementation",) if k in options}
        model = cls.model_class().from_pretrained(path, dtype=dtype, **model_kwargs).to(device)
        processor = cls.processor_class().from_pretrained(str(path))
        return cls(model, processor, name=str(path), **options)

    @classmethod
    @abstractmethod
    def model_class(cls):
        """The transformers ``*ForConditionalGeneration`` class of this architecture."""

    @classmethod
    def processor_class(cls):
        """The processor class to load a checkpoint's processor with (``from_pretrained``).

        ``AutoProcessor`` by default; adapters whose stock processor carries a video processor
        return an image-only one (:func:`synfaith.models.processors.image_only_processor`),
        so nothing needs torchvision.
        """
        from transformers import AutoProcessor

        return AutoProcessor

    def _image_token_id(self) -> int:
        """The id of the image placeholder token in the input ids (the config's ``image_token_id``)."""
        return int(self.model.config.image_token_id)

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

        encoded = self.processor(images=image, text=self.processor_text(prompt), return_tensors="pt", **self.image_processor_kwargs())
        input_ids = encoded["input_ids"][0]
        self.check_context(instance, input_ids.numel())
        clean = encoded["pixel_values"]
        image_inputs = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask", "pixel_values")}
        blurred = self.pixel_tensor(blurred_copy(image, zero_state.blur_radius(image.size)))
        visual_positions = torch.nonzero(input_ids == self.image_token_id).flatten()
        query_positions, query_spans = align_query_tokens(self.tokenizer, instance, prompt, input_ids, query_range, visual_positions)
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

    def context_length(self) -> int | None:
        """Positions the language model can attend over (its config's ``max_position_embeddings``)."""
        config = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text_config, "max_position_embeddings", None)
        return int(value) if value else None

    def check_context(self, instance: Instance, n_prompt_tokens: int) -> None:
        """Raise :class:`ContextLengthError` when the prompt and the answer budget overflow the context."""
        context = self.context_length()
        if context is not None and n_prompt_tokens + self.max_new_tokens > context:
            raise ContextLengthError(
                f"instance {instance.id!r}: the prompt has {n_prompt_tokens} tokens (image included) and the answer up to "
                f"{self.max_new_tokens}, over the model's context of {context} tokens; shorten the question or its choices"
            )

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
        """Greedy decoding on the clean input, cut to the answer token(s) by regex (an open answer: whole).

        Raises:
            UnparseableAnswerError: the response holds no answer of the expected format.
        """
        answer_format = answer_format or answer_format_for(prepared.instance)
        if isinstance(answer_format, OpenAnswer):  # the whole answer, to the end of turn (docs/open-answers.md)
            return answer_format.generate_target(self, prepared)
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
        which_image = torch.as_tensor(which_image.ravel(), device=device)
        pixels = prepared.pixels.masked(distinct_images).to(device, self.model.dtype)
        image_inputs = {k: v.to(device) for k, v in prepared.image_inputs.items()}
        features = self.image_features(pixels, distinct_images.shape[0], image_inputs)

        input_ids = sequence.to(device).repeat(image_keep.shape[0], 1)
        query = prepared.layout.query_positions.to(device)
        input_ids[:, query] = torch.where(
            text_keep.to(device), input_ids[:, query], torch.full_like(input_ids[:, query], self.pad_token_id)
        )
        split = prefix_length(prepared) if self.prefix_cache else None
        if split is not None and self.prefix_cache == "auto":
            n_variants, length = input_ids.shape
            shared_tokens = distinct_images.shape[0] * split + n_variants * (length - split)
            split = split if shared_tokens <= 0.9 * n_variants * length else None
        if split is not None:
            self.count_passes(input_ids.shape[0])  # the unshared path counts in forward_embeddings
            logits, tokens = shared_prefix_logits(self, prepared, input_ids, features, which_image, split, n_logits)
            self.token_forwards += tokens
            return logits
        embeds = self.merged_embeddings(input_ids, features[which_image], prepared)
        self.token_forwards += input_ids.numel()
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
        if batch_size is None and self.batch_size == "auto":
            self.batch_size = self._probe_batch_size(prepared, target)
        return VLMGame(self, prepared, target, batch_size=batch_size or self.batch_size)

    def _probe_batch_size(self, prepared: Prepared, target: Target) -> int:
        """``batch_size: auto`` on this instance: probe batches of distinct random image masks."""
        generator = np.random.default_rng(0)

        def run_batch(size: int) -> None:
            image_keep = generator.random((size, prepared.n_image_units)) < 0.5
            self.target_probabilities(prepared, target, image_keep, np.ones((size, prepared.n_text_units), bool))

        before = self.token_forwards, self.forward_passes
        self.batch_size_probe = probe_batch_size(run_batch, self.device, budget=self.memory_budget)
        self.token_forwards, self.forward_passes = before  # the probe is not the game's or an explainer's work
        logging.getLogger(__name__).info("%s: %s", self.name or type(self).__name__, self.batch_size_probe.describe())
        return self.batch_size_probe.batch_size


class VLMGame(Game):
    """A synfaith game backed by a VLM adapter (one instance, one target)."""

    def __init__(self, adapter: VLMAdapter, prepared: Prepared, target: Target, **options) -> None:
        super().__init__(prepared.n_image_units, prepared.n_text_units, **options)
        self.adapter = adapter
        self.prepared = prepared
        self.target = target
        self.declare_inert(prepared.pixels.unchanged_units(), (prepared.layout.input_ids[prepared.layout.query_positions] == adapter.pad_token_id).numpy())

    def _batch_size_lowered(self, batch_size: int) -> None:
        # later instances start from the size that fitted, instead of running out of memory again
        if self.adapter.batch_size == "auto" or self.adapter.batch_size > batch_size:
            self.adapter.batch_size = batch_size

    def _evaluate(self, image_keep: np.ndarray, text_keep: np.ndarray) -> np.ndarray:
        before = self.adapter.token_forwards
        values = self.adapter.target_probabilities(self.prepared, self.target, image_keep, text_keep)
        self.token_forwards += self.adapter.token_forwards - before
        return values
