"""The synthetic world: rendered shape scenes with planted ground truth (docs/design.md §5).

Scenes are coloured shapes on a 4×4 grid of 16 px cells (64 px images, one cell per patch of
the toy VLM). Three question families are modelled on the paper's datasets:

- ``existence`` (POPE-like): "Is there a red circle in the image?" → Yes/No.
- ``counting`` (CV-Bench-like): "How many red shapes are there?" → (A) 1 … (D) 4.
- ``relation`` (CV-Bench-like spatial relation): "Is the red circle on the left or on the right
  side of the image?" → (A) left / (B) right. (Object-to-object relations stayed at chance for
  a toy model trained within the 30-minute CPU budget; see the toy VLM's model card.)

A fourth family, ``caption`` ("Describe the image." → "red circle at 3,2. …", ``answer_type:
open``), asks for the dense caption the toy VLM was trained on (docs/open-answers.md); it is
chosen explicitly (``families: [caption]``) and has no subsets.

Each question family comes in controlled subsets whose modality structure is planted:

- ``synergy``: the answer needs both the image and the query words (hard negatives share the
  colour or the shape; counting distractors are balanced so no colour is a shortcut).
- ``redundant``: a caption sentence before the question states the answer, and the scene holds
  only the objects the question is about (none for a "no"), so either modality alone decides it.
- ``prior``: questions about *black* shapes follow a planted training bias (always present,
  always two, always on the left side); the image agrees with it.
- ``prior_conflict`` (held-out probe only): black shapes that break the bias.

Every instance carries :class:`~synfaith.data.GroundTruth`: the evidence boxes in image pixels
and the deciding words of the question, which each adapter maps to its own units.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synfaith.data.instance import Box, GroundTruth, Instance

GRID = 4
CELL = 16
IMAGE_SIZE = GRID * CELL
BACKGROUND = (235, 235, 235)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (225, 190, 30),
}
PRIOR_COLOUR = "black"
ALL_COLOURS = {**COLOURS, PRIOR_COLOUR: (25, 25, 25)}
SHAPES = ("circle", "square", "triangle")
FAMILIES = ("existence", "counting", "relation")
SUBSETS = ("synergy", "redundant", "prior")
PROBE_SUBSETS = ("prior_conflict",)
COUNT_CHOICES = ("1", "2", "3", "4")
RELATION_CHOICES = ("left", "right")
PRIOR_COUNT = 2
CAPTION = "caption"  # the open-answer family: "Describe the image." → the scene's caption
OPEN_FAMILIES = (CAPTION,)
CAPTION_QUESTION = "Describe the image."


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    row: int
    col: int

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    def box(self) -> Box:
        return Box(self.col * CELL, self.row * CELL, (self.col + 1) * CELL, (self.row + 1) * CELL)


@dataclass(frozen=True)
class Scene:
    """Objects on distinct cells of the grid."""

    objects: tuple[SceneObject, ...]

    def render(self) -> Image.Image:
        """The scene as a 64×64 RGB image (shapes inset 3 px in their cells)."""
        image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
        draw = ImageDraw.Draw(image)
        for obj in self.objects:
            left, top = obj.col * CELL + 3, obj.row * CELL + 3
            right, bottom = left + CELL - 7, top + CELL - 7
            fill = ALL_COLOURS[obj.colour]
            if obj.shape == "circle":
                draw.ellipse([left, top, right, bottom], fill=fill)
            elif obj.shape == "square":
                draw.rectangle([left, top, right, bottom], fill=fill)
            else:
                draw.polygon([(left, bottom), (right, bottom), ((left + right) / 2, top)], fill=fill)
        return image

    def caption(self) -> str:
        """Dense caption, objects ordered by colour, shape, column, row: "red circle at 3,2." """
        ordered = sorted(self.objects, key=lambda o: (o.colour, o.shape, o.col, o.row))
        return " ".join(f"{o.name} at {o.col + 1},{o.row + 1}." for o in ordered) or "nothing."

    def matching(self, colour: str | None = None, shape: str | None = None) -> list[SceneObject]:
        return [o for o in self.objects if (colour is None or o.colour == colour) and (shape is None or o.shape == shape)]


@dataclass(frozen=True)
class Question:
    """A question about a scene with its answer and planted evidence."""

    family: str
    subset: str
    question: str
    choices: tuple[str, ...] | None
    answer: str  # "yes"/"no" or a choice letter
    evidence: tuple[SceneObject, ...]
    words: tuple[str, ...]


def _letter(index: int) -> str:
    return chr(ord("A") + index)


class SceneSampler:
    """Seeded sampling of scenes and questions (the generator behind every split)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    # -- scenes ----------------------------------------------------------------------------
    def cells(self, n: int) -> list[tuple[int, int]]:
        chosen = self.rng.choice(GRID * GRID, size=n, replace=False)
        return [(int(c) // GRID, int(c) % GRID) for c in chosen]

    def colour(self, exclude: Sequence[str] = ()) -> str:
        return str(self.rng.choice([c for c in COLOURS if c not in exclude]))

    def shape(self, exclude: Sequence[str] = ()) -> str:
        return str(self.rng.choice([s for s in SHAPES if s not in exclude]))

    def random_objects(self, cells: Sequence[tuple[int, int]], avoid: Sequence[tuple[str, str]] = ()) -> list[SceneObject]:
        objects = []
        for row, col in cells:
            while True:
                colour, shape = self.colour(), self.shape()
                if (colour, shape) not in avoid:
                    break
            objects.append(SceneObject(colour, shape, row, col))
        return objects

    # -- families ----------------------------------------------------------------------------
    def existence(self, subset: str) -> tuple[Scene, Question]:
        rng = self.rng
        if subset in ("prior", "prior_conflict"):
            shape = self.shape()
            present = subset == "prior"
            cells = self.cells(int(rng.integers(2, 6)))
            objects = self.random_objects(cells[1:])
            target = SceneObject(PRIOR_COLOUR, shape, *cells[0])
            if present:
                objects.append(target)
            scene = Scene(tuple(objects))
            return scene, Question(
                "existence", subset, f"Is there a {PRIOR_COLOUR} {shape} in the image?", None,
                "yes" if present else "no", (target,) if present else (), (PRIOR_COLOUR, shape),
            )
        answer_yes = bool(rng.integers(2))
        colour, shape = self.colour(), self.shape()
        question = f"Is there a {colour} {shape} in the image?"
        if subset == "redundant":
            cells = self.cells(1)
            objects = [SceneObject(colour, shape, *cells[0])] if answer_yes else []
            caption = f"There is a {colour} {shape}." if answer_yes else f"There is no {colour} {shape}."
            scene = Scene(tuple(objects))
            return scene, Question(
                "existence", subset, f"{caption} {question}", None, "yes" if answer_yes else "no",
                tuple(objects), (colour, shape),
            )
        n = int(rng.integers(3, 7))
        cells = self.cells(n)
        objects = self.random_objects(cells[1:], avoid=[(colour, shape)])
        if answer_yes:
            target = SceneObject(colour, shape, *cells[0])
            objects.append(target)
            evidence: tuple[SceneObject, ...] = (target,)
        else:
            # hard negative: the colour with another shape, or the shape in another colour
            if rng.integers(2):
                objects.append(SceneObject(colour, self.shape(exclude=[shape]), *cells[0]))
            else:
                objects.append(SceneObject(self.colour(exclude=[colour]), shape, *cells[0]))
            evidence = ()
        return Scene(tuple(objects)), Question(
            "existence", subset, question, None, "yes" if answer_yes else "no", evidence, (colour, shape)
        )

    def counting(self, subset: str) -> tuple[Scene, Question]:
        rng = self.rng
        if subset in ("prior", "prior_conflict"):
            count = PRIOR_COUNT if subset == "prior" else int(rng.choice([c for c in (1, 3, 4) if c != PRIOR_COUNT]))
            colour = PRIOR_COLOUR
        else:
            count = int(rng.integers(1, 5))
            colour = self.colour()
        question = f"How many {colour} shapes are there?"
        if subset == "redundant":
            cells = self.cells(count)
            targets = [SceneObject(colour, self.shape(), r, c) for r, c in cells]
            noun = "shape" if count == 1 else "shapes"
            verb = "is" if count == 1 else "are"
            question = f"There {verb} {count} {colour} {noun}. {question}"
            objects = targets
        else:
            # distractor colours get counts from the same distribution: no colour is a shortcut
            distractor_colours = [c for c in COLOURS if c != colour]
            rng.shuffle(distractor_colours)
            counts = [int(rng.integers(1, 5)) for _ in range(int(rng.integers(1, 3)))]
            cells = self.cells(count + sum(counts))
            targets = [SceneObject(colour, self.shape(), r, c) for r, c in cells[:count]]
            objects = list(targets)
            start = count
            for other, k in zip(distractor_colours, counts):
                objects += [SceneObject(other, self.shape(), r, c) for r, c in cells[start : start + k]]
                start += k
        return Scene(tuple(objects)), Question(
            "counting", subset, question, COUNT_CHOICES, _letter(count - 1), tuple(targets), (colour,)
        )

    def relation(self, subset: str) -> tuple[Scene, Question]:
        """Which half of the image an object is in (columns 1–2: left, 3–4: right)."""
        rng = self.rng
        if subset in ("prior", "prior_conflict"):
            colour, left = PRIOR_COLOUR, subset == "prior"
        else:
            colour, left = self.colour(), bool(rng.integers(2))
        shape = self.shape()
        half = GRID // 2
        target = SceneObject(colour, shape, int(rng.integers(GRID)), int(rng.integers(half)) + (0 if left else half))
        name = target.name
        question = f"Is the {name} on the left or on the right side of the image?"
        if subset == "redundant":
            question = f"The {name} is on the {'left' if left else 'right'} side. {question}"
            objects = [target]
        else:
            # distractors on both halves: the image alone does not say which object is meant
            free = [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) != (target.row, target.col)]
            opposite = [cell for cell in free if (cell[1] < half) != left]
            cells = [opposite[int(rng.integers(len(opposite)))]]
            rest = [cell for cell in free if cell != cells[0]]
            cells += [rest[int(i)] for i in rng.choice(len(rest), size=int(rng.integers(1, 5)), replace=False)]
            objects = [target, *self.random_objects(cells, avoid=[(colour, shape)])]
        return Scene(tuple(objects)), Question(
            "relation", subset, question, RELATION_CHOICES, "A" if left else "B", (target,), (colour, shape)
        )

    def sample(self, family: str, subset: str) -> tuple[Scene, Question]:
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; choose from {FAMILIES}")
        if subset not in SUBSETS + PROBE_SUBSETS:
            raise ValueError(f"unknown subset {subset!r}; choose from {SUBSETS + PROBE_SUBSETS}")
        return getattr(self, family)(subset)


def caption_instance(scene: Scene, instance_id: str) -> Instance:
    """An open question about a scene: "Describe the image." with its caption as the reference.

    The toy VLM was trained on exactly these captions; the evidence is every object.
    """
    return Instance(
        id=instance_id,
        image=scene.render(),
        question=CAPTION_QUESTION,
        answer=scene.caption(),
        meta={"dataset": "synthetic", "family": CAPTION, "subset": CAPTION, "caption": scene.caption(), "answer_type": "open"},
        ground_truth=GroundTruth(boxes=tuple(o.box() for o in scene.objects)),
    )


def to_instance(scene: Scene, question: Question, instance_id: str) -> Instance:
    """The model-agnostic instance of a scene and question."""
    return Instance(
        id=instance_id,
        image=scene.render(),
        question=question.question,
        choices=question.choices,
        answer=question.answer,
        meta={"dataset": "synthetic", "family": question.family, "subset": question.subset, "caption": scene.caption()},
        ground_truth=GroundTruth(boxes=tuple(o.box() for o in question.evidence), words=question.words),
    )


SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def synthetic_instances(
    n_per_cell: int = 50,
    *,
    split: str = "test",
    families: Sequence[str] = FAMILIES,
    subsets: Sequence[str] = SUBSETS,
    seed: int = 0,
) -> list[Instance]:
    """A balanced split: ``n_per_cell`` instances per (family, subset), deterministic.

    ``split`` selects a disjoint random stream (train / validation / test), ``seed`` a
    different draw of the same split. The ``caption`` family (open answers, not in the default
    families) is one cell of ``n_per_cell`` instances whatever the subsets.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose from {tuple(SPLIT_SEEDS)}")
    instances = []
    for family in families:
        if family == CAPTION:  # one cell: subsets are about questions, a caption has none
            sampler = SceneSampler(np.random.default_rng([SPLIT_SEEDS[split], seed, len(FAMILIES), 0]))
            for i in range(n_per_cell):
                scene, _ = sampler.sample(FAMILIES[i % len(FAMILIES)], "synergy")
                instances.append(caption_instance(scene, f"{split}-{CAPTION}-{i:05d}"))
            continue
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; choose from {FAMILIES + OPEN_FAMILIES}")
        for subset in subsets:
            rng = np.random.default_rng([SPLIT_SEEDS[split], seed, FAMILIES.index(family), (SUBSETS + PROBE_SUBSETS).index(subset)])
            sampler = SceneSampler(rng)
            for i in range(n_per_cell):
                scene, question = sampler.sample(family, subset)
                instances.append(to_instance(scene, question, f"{split}-{family}-{subset}-{i:05d}"))
    return instances


def write_synthetic(out_dir: str | Path, instances: Sequence[Instance]) -> Path:
    """Write instances as PNG images plus ``instances.jsonl`` (synfaith's JSONL format)."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / "instances.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for instance in instances:
            image_path = out / "images" / f"{instance.id}.png"
            instance.load_image().save(image_path)
            truth = instance.ground_truth
            record = {
                "id": instance.id,
                "image": f"images/{image_path.name}",
                "question": instance.question,
                "choices": list(instance.choices) if instance.choices else None,
                "answer": instance.answer,
                "meta": instance.meta,
                "ground_truth": {
                    "boxes": [[b.left, b.top, b.right, b.bottom] for b in truth.boxes],
                    "words": list(truth.words),
                }
                if truth
                else None,
            }
            f.write(json.dumps(record) + "\n")
    return path


def iter_training_examples(seed: int) -> Iterator[tuple[Scene, Question]]:
    """An endless stream for training (its own seed stream, disjoint from the eval splits)."""
    rng = np.random.default_rng([SPLIT_SEEDS["train"], seed, 99])
    sampler = SceneSampler(rng)
    while True:
        family = str(rng.choice(FAMILIES))
        subset = str(rng.choice(SUBSETS))
        yield sampler.sample(family, subset)
