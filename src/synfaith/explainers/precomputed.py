"""Bring your own attributions: maps computed elsewhere, read from files, scored like any explainer.

A directory holds, per instance, ``STEM.npy`` — an H×W real array over the original image's
pixels (height × width, as loaded) — and optionally ``STEM.text.json`` — a JSON object mapping
query words or token strings to scores (``{"red": 1.0, "circle": 1.0}``). ``STEM`` is the
instance id percent-encoded (:func:`attribution_file_stem`), so every id names exactly one
file inside the directory and no id can reach outside it.

The image map is pooled onto each model's visual units by the model itself
(``model.pool_pixel_map``: the same preprocessing geometry as its ground-truth mapping), so one
set of files serves every model, local or remote. Text keys map onto text units by
case-insensitive whole-word match over the query or by exact token string; a unit matched by
several keys takes the **max** of their scores, an unmatched unit scores 0. A missing, unreadable
or mis-shaped file is a :class:`PrecomputedMapError` naming the file and the fix (a failure row
in a run).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np

from synfaith.contracts import Scores
from synfaith.explainers.base import Explainer
from synfaith.models.ground_truth import DEFAULT_LEVELS, query_units_matching

_TOKEN_MARKERS = "Ġ▁"  # the word-start markers of byte-level BPE and SentencePiece token strings
_NPY_MAGIC, _NPZ_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


class PrecomputedMapError(ValueError):
    """A precomputed attribution file is missing, unreadable or does not fit the instance."""


class ExistingFolder(str):
    """An option naming an existing directory: checked when a config is read (before a run directory exists)."""

    @classmethod
    def check(cls, value):
        """``value`` if it names an existing directory (``~`` expanded), else a :class:`PrecomputedMapError`."""
        if not isinstance(value, (str, Path)) or not Path(value).expanduser().is_dir():
            raise PrecomputedMapError(f"path {str(value)!r} is not a directory; pass path=DIR, the folder of ID.npy (and ID.text.json) files")
        return value

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(cls.check)


def attribution_file_stem(instance_id: str) -> str:
    """The file stem of an instance's attribution files: the id percent-encoded (RFC 3986).

    Letters, digits and ``_ . - ~`` stay as they are; every other character (``/``, ``\\``,
    ``:``, spaces, ``%``, non-ASCII) becomes ``%XX`` of its UTF-8 bytes — so
    ``"coco/val 1"`` → ``"coco%2Fval%201"`` (``coco%2Fval%201.npy``). The rule is one-to-one
    and the stem never holds a path separator, so ``../x`` stays inside the directory.

    Raises:
        PrecomputedMapError: the id is empty.
    """
    if not isinstance(instance_id, str) or not instance_id:
        raise PrecomputedMapError(f"instance id {instance_id!r} cannot name an attribution file; give every instance a non-empty id")
    return urllib.parse.quote(instance_id, safe="")


def attribution_files(directory: str | Path, instance_id: str) -> tuple[Path, Path]:
    """``(map file, text file)`` of an instance: ``DIR/STEM.npy`` and ``DIR/STEM.text.json``."""
    stem = attribution_file_stem(instance_id)
    directory = Path(directory)
    return directory / f"{stem}.npy", directory / f"{stem}.text.json"


def save_attribution(directory: str | Path, instance_id: str, heatmap, text: Mapping[str, float] | None = None) -> Path:
    """Write an instance's map (and text scores) where :class:`Precomputed` reads them.

    Args:
        directory: the folder (created if missing).
        instance_id: the instance's id (encoded by :func:`attribution_file_stem`).
        heatmap: H×W real numbers over the original image (height × width).
        text: word or token string → score, or None for no text file.

    Returns:
        The path of the ``.npy`` file.
    """
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2 or not (heatmap.dtype == bool or np.issubdtype(heatmap.dtype, np.number)) or np.iscomplexobj(heatmap):
        raise PrecomputedMapError(f"heatmap for {instance_id!r}: expected a 2-D real array (height × width), got {heatmap.dtype} {heatmap.shape}")
    map_file, text_file = attribution_files(directory, instance_id)
    map_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(map_file, heatmap.astype(np.float64))
    if text is not None:
        text_file.write_text(json.dumps({str(k): float(v) for k, v in text.items()}, indent=1), encoding="utf-8")
    return map_file


def load_heatmap(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """An instance's map from ``path`` (never unpickled), checked: float64[H, W], finite.

    Raises:
        PrecomputedMapError: missing, not a plain ``.npy`` array, not real numbers, not
            ``shape``, NaN or infinite values, or constant.
    """
    if not path.is_file():
        raise PrecomputedMapError(f"no precomputed map: {path} does not exist; save an H×W array there with numpy.save (file names: the instance id percent-encoded)")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if magic[:4] != _NPZ_MAGIC and magic != _NPY_MAGIC:  # numpy would try to unpickle anything else
            raise PrecomputedMapError(f"{path} is not a .npy file (it does not start with numpy's magic bytes); write the map with numpy.save")
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        if isinstance(error, PrecomputedMapError):
            raise
        if "allow_pickle" in str(error):
            raise PrecomputedMapError(f"{path} holds pickled Python objects, which synfaith never loads; save a plain numeric array (numpy.save(path, heatmap.astype(float)))") from None
        raise PrecomputedMapError(f"{path} cannot be read as a .npy array ({error}); write it with numpy.save") from None
    except (OSError, EOFError) as error:
        raise PrecomputedMapError(f"{path} cannot be read as a .npy array ({error or type(error).__name__}); write it with numpy.save") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        array.close()
        raise PrecomputedMapError(f"{path} is an .npz archive, not one array; save the map alone with numpy.save")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise PrecomputedMapError(f"{path} has dtype {array.dtype}, not real numbers; save a float array (heatmap.astype(float))")
    if array.shape != shape:
        raise PrecomputedMapError(
            f"{path} has shape {array.shape}; expected {shape} (height, width) of the original image: one value per pixel, "
            "before any resizing or cropping (sum or average colour channels beforehand)"
        )
    array = array.astype(np.float64)
    bad = int(np.size(array) - np.isfinite(array).sum())
    if bad:
        raise PrecomputedMapError(f"{path} holds {bad} NaN or infinite values; replace them (e.g. numpy.nan_to_num) before saving")
    if np.ptp(array) == 0:
        raise PrecomputedMapError(f"{path} is constant (every pixel is {float(array.flat[0])!r}), so it ranks no unit; save the explainer's real map")
    return array


def load_text_scores(path: Path) -> dict[str, float]:
    """The word/token → score object of ``path``, checked (finite numbers, non-empty keys).

    Raises:
        PrecomputedMapError: not JSON, not an object, an empty key or a score that is not a finite number.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise PrecomputedMapError(f"{path} cannot be read ({error}); write UTF-8 JSON such as {{\"red\": 1.0}}") from None
    except ValueError as error:
        raise PrecomputedMapError(f"{path} is not valid JSON ({error}); write an object such as {{\"red\": 1.0, \"circle\": 1.0}}") from None
    if not isinstance(data, dict):
        raise PrecomputedMapError(f"{path} holds a JSON {type(data).__name__}; expected an object mapping words or tokens to scores, such as {{\"red\": 1.0}}")
    scores = {}
    for key, value in data.items():
        if not key.strip():
            raise PrecomputedMapError(f"{path} has an empty key {key!r}; keys are query words or token strings")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PrecomputedMapError(f"{path}: the score of {key!r} is {value!r}; scores must be finite numbers")
        scores[key] = float(value)
    return scores


def _token_form(text: str) -> str:
    return text.strip().lstrip(_TOKEN_MARKERS)


def text_unit_scores(prepared, scores: Mapping[str, float]) -> tuple[np.ndarray, list[str]]:
    """``(float[n], unmatched keys)``: text scores onto the query units.

    A key matches a unit when the unit overlaps a case-insensitive whole-word occurrence of the
    key in the query (:func:`~synfaith.models.ground_truth.query_units_matching`), or when the
    unit's text equals the key as a token string (surrounding whitespace and a leading ``Ġ``/``▁``
    ignored, case kept). A unit takes the max of its matched keys' scores; the rest score 0.
    """
    tokens = [_token_form(t) for t in prepared.text_unit_strings()]
    best = np.full(prepared.n_text_units, -np.inf)
    unmatched = []
    for key, value in scores.items():
        units = set(query_units_matching(prepared, key)) | {i for i, t in enumerate(tokens) if t and t == _token_form(key)}
        if not units:
            unmatched.append(key)
        for unit in units:
            best[unit] = max(best[unit], value)
    return np.where(np.isfinite(best), best, 0.0), unmatched


class Precomputed(Explainer):
    """Attributions computed elsewhere: ``DIR/STEM.npy`` (H×W pixel map) and ``DIR/STEM.text.json``.

    The pixel map is pooled onto the model's visual units by ``model.pool_pixel_map`` (its own
    preprocessing geometry, ``levels`` level sets); text keys onto query units by
    :func:`text_unit_scores` (max over matches, 0 elsewhere). Text ties: with
    ``text_ties="fail"`` (default) a missing text file or text scores that are all equal fail
    the row (F_syn needs a text ranking); with ``"reading_order"`` they become
    ``c − ε·i`` (ε = 10⁻⁹·max(|c|, 1)/n): the query ranked in reading order, the order the
    metrics' own tie-break gives — a baseline ranking, recorded in ``raw["text_tie_break"]``.
    Text keys that match no unit are listed in ``raw["unmatched_text_keys"]``; a file none of
    whose keys match fails the row.

    Args:
        path: the directory holding the files.
        levels: level sets of a real-valued map (:func:`~synfaith.models.ground_truth.level_sets`).
        text_ties: ``"fail"`` or ``"reading_order"``.
    """

    name = "precomputed"
    requires = frozenset()  # reads files; the model only pools the map through its preprocessing
    description = "attributions computed elsewhere: DIR/ID.npy pixel maps (and ID.text.json), pooled through the model's preprocessing"

    def __init__(self, path: ExistingFolder, levels: int = DEFAULT_LEVELS, text_ties: Literal["fail", "reading_order"] = "fail") -> None:
        ExistingFolder.check(path)
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise PrecomputedMapError(f"explainer 'precomputed': levels must be an integer ≥ 2, got {levels!r}")
        if text_ties not in ("fail", "reading_order"):
            raise PrecomputedMapError(f"explainer 'precomputed': text_ties must be 'fail' or 'reading_order', got {text_ties!r}")
        self.path = str(path)
        self.levels = levels
        self.text_ties = text_ties

    def attribute(self, model, prepared, target):
        instance_id = prepared.instance.id
        map_file, text_file = attribution_files(Path(self.path).expanduser(), instance_id)
        width, height = prepared.image_size
        heatmap = load_heatmap(map_file, (height, width))
        if not callable(getattr(model, "pool_pixel_map", None)):
            raise TypeError(
                f"{type(model).__name__} has no pool_pixel_map(prepared, heatmap), which the GameModel contract asks for; "
                "inherit synfaith.models.ground_truth.UnitMapping (it needs a pixel_tensor(image) method) or implement it"
            )
        image = np.asarray(model.pool_pixel_map(prepared, heatmap, levels=self.levels), dtype=np.float64)
        if image.size > 1 and np.ptp(image) == 0:
            raise PrecomputedMapError(f"{map_file} pools to the same value on all {image.size} visual units (it varies only where the model's preprocessing crops the image); nothing to rank")
        raw = {"pixel_map": heatmap, "map_file": str(map_file)}
        tie = None
        if text_file.is_file():
            scores = load_text_scores(text_file)
            text, unmatched = text_unit_scores(prepared, scores)
            if scores and len(unmatched) == len(scores):
                raise PrecomputedMapError(
                    f"{text_file}: none of its {len(scores)} keys is a word or token of the query {prepared.query_text!r}; "
                    "keys are whole words (any case) or exact token strings"
                )
            raw |= {"text_file": str(text_file), "unmatched_text_keys": unmatched}
            if text.size > 1 and np.ptp(text) == 0:
                tie = f"{text_file}: all {text.size} query units score {float(text[0])!r}"
        else:
            text = np.zeros(prepared.n_text_units)
            tie = f"no text scores for instance {instance_id!r}: {text_file} does not exist"
        if tie is not None and text.size > 1:
            if self.text_ties == "fail":
                raise PrecomputedMapError(f"{tie}; write word → score pairs there (e.g. {{\"red\": 1.0}}) or set option text_ties=reading_order")
            text = text - max(abs(float(text[0])), 1.0) * 1e-9 / text.size * np.arange(text.size)
            raw["text_tie_break"] = "reading order"
        return Scores(image, text, raw=raw)
