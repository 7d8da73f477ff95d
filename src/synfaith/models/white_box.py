"""White-box access of a Hugging Face adapter: modules, attention, merged embeddings, changed inputs.

Mixed into :class:`~synfaith.models.base.VLMAdapter`; white-box explainers and the probe
metrics use these, a black-box model has none of them (docs/design.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from PIL import Image

from synfaith.contracts import Prepared, Target


class WhiteBoxAccess:
    """Gradients, attention and changed copies of the input (needs ``self.model``, ``self.image_features``)."""

    @property
    def language_layers(self) -> torch.nn.ModuleList:
        """The decoder blocks of the language model."""
        return self.language_model.layers

    @property
    def language_model(self) -> torch.nn.Module:
        """The language model's decoder (its blocks and final norm; ``text_model`` in Idefics3/SmolVLM)."""
        return self.model.model.language_model

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

    def sequence_ids(self, prepared: Prepared, target: Target) -> torch.Tensor:
        """Prompt + prefix + answer[:-1]: the teacher-forced input whose last ``a`` logits score the answer."""
        return torch.cat([prepared.layout.input_ids, target.prefix_ids, target.answer_ids[:-1]])

    def image_inputs_for(self, prepared: Prepared, length: int) -> dict[str, torch.Tensor]:
        """``prepared.image_inputs`` for a sequence of ``length`` tokens (the prompt's own by default).

        A model with per-token image inputs (mllama's ``cross_attention_mask``) extends them to
        the teacher-forced sequence, as its generation does.
        """
        return dict(prepared.image_inputs)

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
        from synfaith.models.prefix import repeat_rows

        batch = inputs_embeds.shape[0]
        image_inputs = {k: v.to(inputs_embeds.device) for k, v in prepared.image_inputs.items()}
        # every row has the same ids but for masked query tokens (pad), so the same positions
        # (M-RoPE indices, token types): computed from one row, repeated
        row_inputs = self.language_model_inputs(input_ids[:1], image_inputs)
        output = self.model_forward(
            inputs_embeds,
            prepared,
            attention_mask=torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device),
            use_cache=False,
            **repeat_rows(row_inputs, batch),
            **kwargs,
        )
        self.count_passes(batch, output.logits)
        return output

    def model_forward(self, inputs_embeds: torch.Tensor, prepared: Prepared, **kwargs):
        """The model's forward pass on merged embeddings (:meth:`write_image_features`'s output) or
        on plain token embeddings; every call with ``inputs_embeds`` goes through here.

        Adapters whose merged embeddings carry more than the LM's input override it (Qwen3-VL:
        its DeepStack features ride along as extra channels, see :mod:`synfaith.models.qwen3_vl`).
        """
        return self.model(inputs_embeds=inputs_embeds, **kwargs)

    def count_passes(self, rows: int, logits: torch.Tensor | None = None) -> None:
        """Count ``rows`` sequences run forward, and backward when a gradient later reaches ``logits``.

        ``forward_passes`` / ``backward_passes`` are what :meth:`Explainer.explain` records per
        explainer (a batch of 8 integration steps counts 8 of each).
        """
        self.forward_passes = getattr(self, "forward_passes", 0) + rows
        if logits is not None and logits.requires_grad:

            def count_backward(gradient: torch.Tensor) -> None:
                self.backward_passes = getattr(self, "backward_passes", 0) + rows

            logits.register_hook(count_backward)
