"""SmolVLM2 (``HuggingFaceTB/SmolVLM2-2.2B-Instruct``): the Idefics3 layout with SmolLM2 and its own tokens.

Layout: ``<|im_start|>User:<image>{question}<end_of_utterance>\\nAssistant:``; the placeholder
expands as Idefics3's (:mod:`synfaith.models.idefics3`): per tile, row-major,
``<fake_token_around_image><row_i_col_j><image>×k`` (a newline after each row of tiles), then
``\\n<fake_token_around_image><global-img><image>×k<fake_token_around_image>``. In SmolVLM's
tokenizer ``<global-img>`` and ``<row_i_col_j>`` are single added tokens.

Geometry and units are Idefics3's: tiles of S = 384 px (patch 14: 27 patches and a 6 px margin
the vision tower never sees), pixel shuffle 3 → 9×9 = 81 tokens per tile, token k of a view is
cell (k // 9, k % 9) of 42 px; visual units = the token cells of the tiles, the global image's
tokens map onto the cells they cover (``token_units``).

The stock ``SmolVLMProcessor`` cannot be imported without torchvision (its module imports the
video processor at import time) and needs ``num2words``; :class:`ImageOnlySmolVLMProcessor` is its
image path — the same ``SmolVLMImageProcessor``, the same prompt expansion (checked against the
stock module's own code in the tests) — without video.
"""

# no ``from __future__ import annotations``: ProcessorMixin reads the kwargs TypedDicts' annotations
from typing import Optional

from transformers import SmolVLMForConditionalGeneration
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_utils import make_nested_list_of_images
from transformers.processing_utils import ImagesKwargs, ProcessingKwargs, ProcessorMixin

from synfaith.models.idefics3 import Idefics3Adapter
from synfaith.models.processors import _restore_stock_processor_class


class SmolVLMImagesKwargs(ImagesKwargs, total=False):
    """The stock processor's image keywords (``processing_smolvlm.SmolVLMImagesKwargs``)."""

    return_row_col_info: Optional[bool]
    max_image_size: Optional[dict[str, int]]


class SmolVLMProcessorKwargs(ProcessingKwargs, total=False):
    """The stock processor's keyword defaults, videos left out."""

    images_kwargs: SmolVLMImagesKwargs

    _defaults = {
        "text_kwargs": {"add_special_tokens": True, "padding": False, "is_split_into_words": False},
        "images_kwargs": {"return_row_col_info": True},
    }


def image_prompt_string(image_rows: int, image_cols: int, image_seq_len: int, fake_token: str, image_token: str, global_token: str) -> str:
    """The expansion of one ``<image>`` placeholder (stock ``get_image_prompt_string``); (0, 0) rows/cols: one view."""
    global_block = f"{fake_token}{global_token}{image_token * image_seq_len}{fake_token}"
    if image_rows == 0 and image_cols == 0:
        return global_block
    text = ""
    for row in range(image_rows):
        for col in range(image_cols):
            text += f"{fake_token}<row_{row + 1}_col_{col + 1}>{image_token * image_seq_len}"
        text += "\n"
    return text + "\n" + global_block


class ImageOnlySmolVLMProcessor(ProcessorMixin):
    """``SmolVLMProcessor`` for images only: ``SmolVLMImageProcessor`` + tokenizer, no video processor.

    Args:
        image_seq_len: ``<image>`` tokens per view (real 81 = (27/3)²).
        chat_template: the checkpoint's chat template.

    Calling it with ``videos=`` raises. Saving writes the stock class name ``SmolVLMProcessor``.
    """

    attributes = ["image_processor", "tokenizer"]
    image_processor_class = "SmolVLMImageProcessor"
    tokenizer_class = "AutoTokenizer"

    def __init__(self, image_processor, tokenizer, image_seq_len: int = 169, chat_template: Optional[str] = None, **kwargs):
        self.fake_image_token = getattr(tokenizer, "fake_image_token", "<fake_token_around_image>")
        self.image_token = getattr(tokenizer, "image_token", "<image>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.end_of_utterance_token = getattr(tokenizer, "end_of_utterance_token", "<end_of_utterance>")
        self.global_image_token = getattr(tokenizer, "global_image_token", "<global-img>")
        self.image_seq_len = image_seq_len
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def expand_text_with_image_tokens(self, text: list, image_rows, image_cols) -> list:
        """Each sample's ``<image>`` placeholders replaced by their expansions (stock method of the same name)."""
        image_rows = image_rows if image_rows is not None else [[0] * len(text)]
        image_cols = image_cols if image_cols is not None else [[0] * len(text)]
        prompts = []
        for sample, sample_rows, sample_cols in zip(text, image_rows, image_cols):
            expansions = [
                image_prompt_string(r, c, self.image_seq_len, self.fake_image_token, self.image_token, self.global_image_token)
                for r, c in zip(sample_rows, sample_cols)
            ]
            pieces = sample.split(self.image_token)
            expanded = pieces[0]
            for i, expansion in enumerate(expansions):
                expanded += expansion + pieces[i + 1]
            prompts.append(expanded)
        return prompts

    def __call__(self, images=None, text=None, audio=None, videos=None, **kwargs) -> BatchFeature:
        """Pixel values, ``pixel_attention_mask`` and the expanded prompt's ids, as the stock processor's image path."""
        if videos is not None:
            raise ValueError(f"{type(self).__name__} handles images only (no video processor).")
        if text is None and images is None:
            raise ValueError("You must provide one of `text` or `images`.")
        output_kwargs = self._merge_kwargs(SmolVLMProcessorKwargs, tokenizer_init_kwargs=self.tokenizer.init_kwargs, **kwargs)
        if text is not None:
            if isinstance(text, str):
                text = [text]
            elif not isinstance(text, list) and not isinstance(text[0], str):
                raise ValueError("Invalid input text. Please provide a string, or a list of strings")
            n_in_text = sum(sample.count(self.image_token) for sample in text)
            if n_in_text > 0 and images is None:
                raise ValueError(f"We detected {n_in_text} tokens in the text but no images were passed")
        inputs = {}
        if images is not None:
            images = make_nested_list_of_images(self.image_processor.fetch_images(images))
            vision_inputs = self.image_processor(images, **output_kwargs["images_kwargs"])
            image_rows = vision_inputs.pop("rows", None)
            image_cols = vision_inputs.pop("cols", None)
            inputs.update(vision_inputs)
            if text is not None:
                in_text = [sample.count(self.image_token) for sample in text]
                in_images = [len(sublist) for sublist in images]
                if in_images != in_text:
                    raise ValueError(f"The number of images in the text {in_text} and images {in_images} should be the same.")
                text = self.expand_text_with_image_tokens(text, image_rows=image_rows, image_cols=image_cols)
        return_tensors = output_kwargs["text_kwargs"].pop("return_tensors", None)
        if text is not None:
            text_inputs = self.tokenizer(text, **output_kwargs["text_kwargs"])
            self._check_special_mm_tokens(text, text_inputs, modalities=["image"])
            inputs.update(text_inputs)
        return BatchFeature(inputs, tensor_type=return_tensors)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as the stock ``SmolVLMProcessor`` would (its class name in the JSON files)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        _restore_stock_processor_class(save_directory, "SmolVLMProcessor")
        return out


class SmolVLMAdapter(Idefics3Adapter):
    """SmolVLM2 as a game: Idefics3's units (token cells of each tile) with SmolVLM's model and processor.

    Args: as :class:`~synfaith.models.idefics3.Idefics3Adapter` (``longest_edge_tiles`` default 2:
    at most 2×2 tiles of 384 px plus the global image; real checkpoints default to 4).
    """

    model_types = ("smolvlm",)

    @classmethod
    def model_class(cls):
        """``SmolVLMForConditionalGeneration``."""
        return SmolVLMForConditionalGeneration

    @classmethod
    def processor_class(cls):
        """The image-only processor (:class:`ImageOnlySmolVLMProcessor`)."""
        return ImageOnlySmolVLMProcessor
