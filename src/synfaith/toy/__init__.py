"""The embedded toy VLM: a small LLaVA trained on the synthetic world, shipped with synfaith.

It is built from the real ``LlavaForConditionalGeneration`` classes (CLIP vision tower, Llama
LM, two-layer projector) with a byte-level BPE tokenizer learned on synthetic text and the
LLaVA-1.5 chat template, so it loads through :class:`~synfaith.models.LlavaAdapter` exactly
like ``llava-hf/llava-1.5-7b-hf``. :func:`train` trains it deterministically on CPU; the
shipped checkpoint is :func:`default_checkpoint` (``load_model("toy")``).

Training mixes three tasks in every batch: a dense caption ("red circle at 3,2. …", loss on
every token — LLaVA's stage-1 idea, without which nothing image-dependent is learned at this
scale), a column look-up that steps towards relations, and the question families. Redundant
and prior examples are shown with the blurred image part of the time, so the model really
reads the text there; redundant ones also with the query padded, so the image alone decides
them too — the planted modality structure the benchmark checks.
"""

from synfaith.toy.card import write_model_card
from synfaith.toy.evaluation import CONDITIONS, Accuracy, evaluate
from synfaith.toy.training import ExampleEncoder, TrainingReport, TrainingStream, collate, train
from synfaith.toy.world import TrainConfig, build_model, build_processor, build_tokenizer, default_checkpoint, pixel_tensor

__all__ = [
    "CONDITIONS",
    "Accuracy",
    "ExampleEncoder",
    "TrainConfig",
    "TrainingReport",
    "TrainingStream",
    "build_model",
    "build_processor",
    "build_tokenizer",
    "collate",
    "default_checkpoint",
    "evaluate",
    "pixel_tensor",
    "train",
    "write_model_card",
]
