"""The Game: the seam between models and metrics (docs/design.md §1–2).

A game scores coalitions ``v(A, B)``: keep the visual units in ``A`` and the text units in
``B``, put every other unit in its zero-state, and return the model's confidence in its
target answer. Metrics only ever see a :class:`Game`; model adapters, analytic test games
and remote scorers all implement the same batched :meth:`Game._evaluate`.

Every game de-duplicates the coalitions it is asked for, answers repeated ones from a
cache, and sends the rest to :meth:`Game._evaluate` in batches of ``batch_size`` — so a
metric that gathers its coalitions first costs one batched call, and its cost is visible in
:attr:`Game.evaluations` (distinct coalitions evaluated) and :attr:`Game.calls` (batches).

A game may declare **inert units** (:meth:`Game.declare_inert`): units whose masking leaves
the model's input exactly as it is — a visual unit whose pixels already equal their
zero-state, a query token that already is the pad token. Two coalitions that differ only in
inert units give the model the same input, so they are one coalition: their keys are taken
with the inert units kept, and the model runs once for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

BoolMatrix = np.ndarray  # bool[B, units]
FloatVector = np.ndarray  # float[B]

DEFAULT_BATCH_SIZE = 256


def keep_mask(n_units: int, kept: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """A bool[n_units] keep-mask that keeps exactly the units listed in ``kept``."""
    mask = np.zeros(n_units, dtype=bool)
    mask[np.asarray(kept, dtype=np.intp)] = True
    return mask


def _as_mask_batch(masks: np.ndarray | Sequence, n_units: int, name: str) -> np.ndarray:
    array = np.asarray(masks)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != n_units:
        raise ValueError(
            f"{name} must have shape [batch, {n_units}] (or [{n_units}] for one coalition); "
            f"got {np.shape(masks)}"
        )
    if array.dtype != bool:
        if not np.isin(array, (0, 1)).all():
            raise ValueError(f"{name} must be boolean keep-masks (True = keep the unit)")
        array = array.astype(bool)
    return array


@dataclass(eq=False)  # meters are told apart by identity (nested blocks may hold equal counts)
class Cost:
    """What the requests made inside one :meth:`Game.metered` block cost.

    Attributes:
        coalitions: distinct coalitions requested (the block's cost on a cold cache).
        evaluations: of those, the ones that were not cached and had to be evaluated.
        calls: batched calls of the game's ``_evaluate`` in the block.
    """

    coalitions: int = 0
    evaluations: int = 0
    calls: int = 0
    _keys: set = field(default_factory=set, repr=False)


class Game(ABC):
    """A cooperative game over ``n_image`` visual units and ``n_text`` text units.

    Subclasses implement :meth:`_evaluate`, which receives a batch of *distinct* coalitions
    (at most ``batch_size`` of them) and returns one value per coalition. Users call
    :meth:`values` (a batch) or :meth:`value` (one coalition).

    Attributes:
        evaluations: distinct coalitions sent to :meth:`_evaluate` so far (the cost).
        calls: batched calls of :meth:`_evaluate` so far.
        cache_hits: requested coalitions answered from the cache or by de-duplication.
    """

    def __init__(
        self,
        n_image: int,
        n_text: int,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache: bool = True,
        progress: bool = False,
    ) -> None:
        if n_image < 0 or n_text < 0:
            raise ValueError(f"unit counts must be non-negative, got n_image={n_image}, n_text={n_text}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.n_image = int(n_image)
        self.n_text = int(n_text)
        self.batch_size = int(batch_size)
        self.use_cache = cache
        self.progress = progress
        self._cache: dict[bytes, float] = {}
        self._meters: list[Cost] = []
        self.evaluations = 0
        self.calls = 0
        self.cache_hits = 0
        self.token_forwards = 0  # tokens a model-backed game ran through its model (0 for other games)
        self._said_out_of_memory = False
        self.inert_image = np.zeros(self.n_image, dtype=bool)
        self.inert_text = np.zeros(self.n_text, dtype=bool)

    # -- the one method a game must implement -------------------------------------------
    @abstractmethod
    def _evaluate(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> FloatVector:
        """Values of a batch of distinct coalitions: bool[B, m], bool[B, n] -> float[B]."""

    # -- public API ----------------------------------------------------------------------
    def values(self, image_keep: np.ndarray | Sequence, text_keep: np.ndarray | Sequence) -> np.ndarray:
        """Values ``v(A_b, B_b)`` of a batch of coalitions given as keep-masks.

        Args:
            image_keep: bool[B, n_image]; True keeps the visual unit, False masks it.
            text_keep: bool[B, n_text]; True keeps the text unit, False masks it.

        Returns:
            float64[B]. Identical coalitions are evaluated once; cached ones not at all.
        """
        image_keep = _as_mask_batch(image_keep, self.n_image, "image_keep")
        text_keep = _as_mask_batch(text_keep, self.n_text, "text_keep")
        if image_keep.shape[0] != text_keep.shape[0]:
            raise ValueError(
                f"image_keep and text_keep must hold the same number of coalitions, "
                f"got {image_keep.shape[0]} and {text_keep.shape[0]}"
            )
        n_requested = image_keep.shape[0]
        if n_requested == 0:
            return np.zeros(0, dtype=np.float64)
        image_keep, text_keep = self._canonical(image_keep, text_keep)
        keys = _keys(image_keep, text_keep)
        first_index: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            first_index.setdefault(key, index)
        missing = [index for key, index in first_index.items() if key not in self._cache]
        for meter in self._meters:
            meter._keys.update(first_index)
            meter.evaluations += len(missing)
        if missing:
            computed = self._evaluate_in_batches(image_keep[missing], text_keep[missing])
            for index, value in zip(missing, computed):
                self._cache[keys[index]] = float(value)
        self.cache_hits += n_requested - len(missing)
        result = np.fromiter((self._cache[key] for key in keys), dtype=np.float64, count=n_requested)
        if not self.use_cache:
            self._cache.clear()
        return result

    def value(self, image_keep: np.ndarray | Sequence, text_keep: np.ndarray | Sequence) -> float:
        """Value of one coalition given as keep-masks bool[n_image], bool[n_text]."""
        return float(self.values(np.atleast_2d(image_keep), np.atleast_2d(text_keep))[0])

    @contextmanager
    def metered(self) -> Iterator[Cost]:
        """Measure what the requests inside the block cost; blocks may nest.

        Example:
            >>> import numpy as np
            >>> g = FunctionGame(lambda a, b: a.sum(1) + b.sum(1), n_image=2, n_text=1)
            >>> with g.metered() as cost:
            ...     _ = g.values(np.ones((3, 2), bool), np.ones((3, 1), bool))
            >>> cost.coalitions, cost.evaluations
            (1, 1)
        """
        meter = Cost()
        calls_before = self.calls
        self._meters.append(meter)
        try:
            yield meter
        finally:
            self._meters.remove(meter)
            meter.coalitions = len(meter._keys)
            meter.calls = self.calls - calls_before

    def coalition_keys(self, image_keep: np.ndarray, text_keep: np.ndarray) -> list[bytes]:
        """The cache keys of a batch of keep-masks bool[B, m], bool[B, n]: equal keys, one evaluation.

        Inert units count as kept (:meth:`declare_inert`), so ``len(set(keys))`` is what the
        batch costs on a cold cache.
        """
        return _keys(*self._canonical(np.asarray(image_keep, dtype=bool), np.asarray(text_keep, dtype=bool)))

    def distinct_coalitions(self, image_keep: np.ndarray, text_keep: np.ndarray) -> int:
        """How many distinct coalitions a batch of keep-masks holds (its cost on a cold cache)."""
        return len(set(self.coalition_keys(image_keep, text_keep)))

    def _canonical(self, image_keep: np.ndarray, text_keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.inert_image.any() or self.inert_text.any():  # one input, one coalition (module docstring)
            return image_keep | self.inert_image, text_keep | self.inert_text
        return image_keep, text_keep

    def declare_inert(self, image: np.ndarray | Sequence[bool] | None = None, text: np.ndarray | Sequence[bool] | None = None) -> None:
        """Declare the units whose masking changes nothing the model sees (bool[n_image], bool[n_text]).

        Only exactness is allowed here: an inert unit's value is the same kept or masked, for
        every coalition, because the model's input is the same. Requests are then answered
        with those units kept (see the module docstring); the cache is cleared.
        """
        for name, mask, size in (("image", image, self.n_image), ("text", text, self.n_text)):
            if mask is None:
                continue
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (size,):
                raise ValueError(f"inert {name} units must be bool[{size}], got shape {mask.shape}")
            setattr(self, f"inert_{name}", mask.copy())
        self._cache.clear()

    def clear_cache(self) -> None:
        """Forget cached values (the counters keep running)."""
        self._cache.clear()

    def reset_counters(self) -> None:
        """Set ``evaluations``, ``calls`` and ``cache_hits`` back to zero."""
        self.evaluations = self.calls = self.cache_hits = 0

    def __add__(self, other: Game) -> Game:
        return SumGame(self, other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_image={self.n_image}, n_text={self.n_text})"

    # -- internals -----------------------------------------------------------------------
    def _batch_size_lowered(self, batch_size: int) -> None:
        """Called after an out-of-memory error lowered ``batch_size`` (a model-backed game tells its model)."""

    def _evaluate_in_batches(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> np.ndarray:
        n = image_keep.shape[0]
        if n > self.batch_size:
            # coalitions that share an image mask go into the same batches: a model-backed game
            # runs the vision tower (and the shared prompt prefix) once per distinct image mask
            order = np.lexsort(np.packbits(image_keep, axis=1).T[::-1]) if self.n_image else np.arange(n)
            out = np.empty(n, dtype=np.float64)
            out[order] = self._evaluate_in_batches_ordered(image_keep[order], text_keep[order])
            return out
        return self._evaluate_in_batches_ordered(image_keep, text_keep)

    def _evaluate_in_batches_ordered(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> np.ndarray:
        n = image_keep.shape[0]
        bar = None
        if self.progress and n > self.batch_size:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"{type(self).__name__}: {n} coalitions", unit="coalition", leave=False)
        out = np.empty(n, dtype=np.float64)
        start = 0
        while start < n:
            stop = _batch_stop(image_keep, start, self.batch_size)  # batch_size may shrink after an out-of-memory error
            batch = self._evaluate_backing_off(image_keep[start:stop], text_keep[start:stop])
            if batch.shape != (stop - start,):
                raise ValueError(
                    f"{type(self).__name__}._evaluate returned shape {batch.shape} for a batch of "
                    f"{stop - start} coalitions; it must return one value per coalition"
                )
            out[start:stop] = batch
            self.evaluations += stop - start
            if bar is not None:
                bar.update(stop - start)
            start = stop
        if bar is not None:
            bar.close()
        return out

    def _evaluate_backing_off(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> np.ndarray:
        """``_evaluate`` on a batch (one call). Out of memory, the batch is split in halves and
        ``batch_size`` lowered for the rest of the game (said once, as a warning)
        instead of failing; a single coalition that does not fit still fails."""
        self.calls += 1
        try:
            return np.asarray(self._evaluate(image_keep, text_keep), dtype=np.float64)
        except Exception as error:  # noqa: BLE001 - only out-of-memory errors are handled here
            if not _out_of_memory(error) or image_keep.shape[0] == 1:
                raise
        half = (image_keep.shape[0] + 1) // 2
        if not self._said_out_of_memory:
            self._said_out_of_memory = True
            warnings.warn(
                f"{type(self).__name__}: out of memory at a batch of {image_keep.shape[0]}; halving the batch until it fits",
                RuntimeWarning,
                stacklevel=2,
            )
        self.batch_size = min(self.batch_size, half)
        self._batch_size_lowered(self.batch_size)
        return np.concatenate(
            [self._evaluate_backing_off(image_keep[:half], text_keep[:half]), self._evaluate_backing_off(image_keep[half:], text_keep[half:])]
        )


def _keys(image_keep: BoolMatrix, text_keep: BoolMatrix) -> list[bytes]:
    """One bytes key per coalition: its image and text keep-masks, bit-packed."""
    return [row.tobytes() for row in np.packbits(np.concatenate([image_keep, text_keep], axis=1), axis=1)]


def _batch_stop(image_keep: BoolMatrix, start: int, batch_size: int) -> int:
    """Where the batch from ``start`` ends: at most ``batch_size`` coalitions, cut before a run of
    equal image masks that would straddle the end — so a model-backed game computes each mask's
    vision features and prompt prefix once, not twice — when that adds no batch to the rest."""
    n = image_keep.shape[0]
    stop = min(start + batch_size, n)
    if stop == n or not np.array_equal(image_keep[stop - 1], image_keep[stop]):
        return stop
    run_start = stop - 1
    while run_start > start and np.array_equal(image_keep[run_start - 1], image_keep[stop]):
        run_start -= 1
    batches_left = -(-(n - start) // batch_size)
    if run_start > start and 1 + -(-(n - run_start) // batch_size) <= batches_left:
        return run_start
    return stop


def _out_of_memory(error: BaseException) -> bool:
    """A CUDA / MPS / host out-of-memory error (torch raises them as RuntimeError subclasses)."""
    return isinstance(error, MemoryError) or "out of memory" in str(error).lower()


class FunctionGame(Game):
    """A game backed by a plain batched function.

    Example:
        >>> import numpy as np
        >>> g = FunctionGame(lambda a, b: (a[:, 0] & b[:, 1]).astype(float), n_image=4, n_text=3)
        >>> g.value(np.ones(4, bool), np.ones(3, bool))
        1.0

    Args:
        fn: ``fn(image_keep: bool[B, m], text_keep: bool[B, n]) -> float[B]``.
        n_image: number of visual units m.
        n_text: number of text units n.
        batch_size: most coalitions per call of ``fn``.
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray, np.ndarray], np.ndarray | Sequence[float]],
        n_image: int,
        n_text: int,
        **options,
    ) -> None:
        super().__init__(n_image, n_text, **options)
        self.fn = fn

    def _evaluate(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> FloatVector:
        return np.asarray(self.fn(image_keep, text_keep), dtype=np.float64)


class SumGame(Game):
    """The sum of games over the same units: ``v(A, B) = Σ_g v_g(A, B)``."""

    def __init__(self, *games: Game, **options) -> None:
        if not games:
            raise ValueError("SumGame needs at least one game")
        shapes = {(g.n_image, g.n_text) for g in games}
        if len(shapes) != 1:
            raise ValueError(f"games to add must have the same units; got (n_image, n_text) in {sorted(shapes)}")
        options.setdefault("batch_size", min(g.batch_size for g in games))
        super().__init__(games[0].n_image, games[0].n_text, **options)
        self.games = games

    def _evaluate(self, image_keep: BoolMatrix, text_keep: BoolMatrix) -> FloatVector:
        return sum(np.asarray(g._evaluate(image_keep, text_keep), dtype=np.float64) for g in self.games)
