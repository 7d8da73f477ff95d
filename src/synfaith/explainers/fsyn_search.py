"""``fsyn_search``: the highest F_syn a search through the game finds for an instance (an upper bound).

F_syn of a ranking depends only on its top sets at the K steps (docs/design.md §3)::

    F_syn = (1/K) Σ_k s(I_k, T_k),   s(A, B) = ½ (S_del(A, B) + S_ins(A, B))

with ``|I_k| = ⌈t_k·m⌉`` and ``|T_k| = ⌈t_k·n⌉`` nested. ``s(∅, ∅) = 0`` and ``s(V, T)`` (the
modality dividend Δ) are the same for every ranking, so the search chooses the K − 2 inner
sets. It is a beam search over the steps:

1. **Screen** (one game call): every visual unit ``i`` gets ``σ_i = s({i}, T)`` and every text
   unit ``j`` gets ``σ_j = s(V, {j})`` — its dividend with the whole other modality, in both
   contexts: 4 distinct coalitions per unit, plus 4. σ orders each modality's units.
2. **Beam** (one game call per inner step k): each of the ``beam_width`` kept chains grows to
   step k's sizes by the next units of its order (the *base* candidate), or by the base with
   its last unit of one modality swapped for one of the next ``pool`` units of that modality.
   Every candidate ``(I_k, T_k)`` of every chain is scored by ``s`` in one batched call. A swap
   measures its unit's step synergy in the context of the chain, so each grown chain re-orders
   its remaining units by those measurements (unmeasured units keep their order after them) —
   a unit that only pays together with another (two words of one phrase) moves up once its
   partner is placed. The chains with the highest ``Σ_{k' ≤ k} s`` are kept; chains that reach
   the same sets are merged, as their futures are the same.

The budget ``max_evaluations`` counts the distinct coalitions the search asks the game for —
its cost on a cold cache, recorded as ``model_calls``, the same however warm the shared cache
is. Candidates are taken in order (every chain's base first, then the swaps by rank) while
they fit, keeping 6 coalitions (the most a base costs) for each later step's base, so a budget
of the screen plus 6(K − 2) always completes one chain. When not even a base fits, the chains
are completed in their current order unevaluated and ``raw["exhausted"]`` is True; otherwise the search asked for every coalition
F_syn needs for the returned ranking at the same K, so the shared per-instance cache makes the
metric's own evaluation of it free.

On the AND game the screen finds ``i*`` and ``j*`` (σ = 1, all others 0), so the search returns
F_syn = (K − 1)/K, the maximum. Scores are ``(units − position) / units``: higher = earlier in
the found ranking, so the ordinary F_syn metric scores exactly that ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from synfaith.contracts import GAME, Scores
from synfaith.explainers.base import Explainer
from synfaith.games.base import Game
from synfaith.games.dividends import pair_coalitions, pair_dividends, top_counts, validate_steps

Units = tuple[int, ...]


@dataclass(frozen=True)
class SearchResult:
    """The best ranking a search found, with its F_syn and cost.

    Attributes:
        image_order: int[m], visual units in the found order (first = top).
        text_order: int[n], text units in the found order.
        fsyn: F_syn of the found ranking at ``steps``, ``(1/K) Σ_k s(I_k, T_k)`` (NaN when the
            budget ran out before the ranking's sets were all evaluated).
        step_synergy: float[K], ``s(I_k, T_k)`` per step (NaN where not evaluated).
        screen_image: float[m], ``σ_i = s({i}, T)``.
        screen_text: float[n], ``σ_j = s(V, {j})``.
        steps: K the search optimised for.
        coalitions: distinct coalitions the search asked the game for.
        exhausted: whether the budget stopped the beam before the last inner step.
    """

    image_order: np.ndarray
    text_order: np.ndarray
    fsyn: float
    step_synergy: np.ndarray
    screen_image: np.ndarray
    screen_text: np.ndarray
    steps: int
    coalitions: int
    exhausted: bool


@dataclass(frozen=True)
class _Chain:
    """A partial ranking: the units placed so far (in order), the rest in order, its summed step synergy."""

    image: Units
    text: Units
    image_rest: Units
    text_rest: Units
    terms: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.terms)


class _Candidate(NamedTuple):
    """One way to grow chain ``parent`` by a step; ``swapped`` is "", "image" or "text"."""

    parent: int
    image_extra: Units
    text_extra: Units
    swapped: str
    unit: int


class _Budget:
    """The distinct coalitions asked for so far, against ``max_evaluations``."""

    def __init__(self, game: Game, limit: int) -> None:
        self.game = game
        self.limit = limit
        self.asked: set[bytes] = set()

    def keys(self, image_sets: np.ndarray, text_sets: np.ndarray) -> set[bytes]:
        """The coalitions (the game's cache keys) the dividends of these set pairs ask for."""
        return set(self.game.coalition_keys(*pair_coalitions(image_sets, text_sets)))

    def new(self, keys: set[bytes]) -> int:
        return len(keys - self.asked)

    def spend(self, keys: set[bytes]) -> None:
        self.asked |= keys

    @property
    def left(self) -> int:
        return self.limit - len(self.asked)


def _mask(units: Units, size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[list(units)] = True
    return mask


def _candidates(parent: int, chain: _Chain, grow_image: int, grow_text: int, pool: int) -> tuple[_Candidate, list[_Candidate]]:
    """A chain's base increment for one step and its swaps (image and text interleaved by rank,
    so a budget that cuts the list cuts both modalities alike)."""
    image_base, text_base = chain.image_rest[:grow_image], chain.text_rest[:grow_text]
    base = _Candidate(parent, image_base, text_base, "", -1)
    image_swaps = [_Candidate(parent, image_base[:-1] + (u,), text_base, "image", u) for u in chain.image_rest[grow_image : grow_image + pool]] if grow_image else []
    text_swaps = [_Candidate(parent, image_base, text_base[:-1] + (w,), "text", w) for w in chain.text_rest[grow_text : grow_text + pool]] if grow_text else []
    swaps = []
    for index in range(max(len(image_swaps), len(text_swaps))):
        swaps += image_swaps[index : index + 1] + text_swaps[index : index + 1]
    return base, swaps


def _reordered(rest: Units, placed: Units, measured: dict[int, float]) -> Units:
    """The units of ``rest`` not in ``placed``: measured ones by step synergy (descending), then the others in order."""
    taken = set(placed)
    return tuple(sorted((u for u in rest if u not in taken), key=lambda u: -measured.get(u, -np.inf)))


def _screen(game: Game, budget: _Budget) -> tuple[np.ndarray, np.ndarray, float, float]:
    """σ of every unit, ``s(∅, ∅)`` and ``s(V, T)``, from one game call."""
    m, n = game.n_image, game.n_text
    image_rows = np.concatenate([np.eye(m, dtype=bool), np.ones((n, m), bool), np.zeros((1, m), bool), np.ones((1, m), bool)])
    text_rows = np.concatenate([np.ones((m, n), bool), np.eye(n, dtype=bool), np.zeros((1, n), bool), np.ones((1, n), bool)])
    keys = budget.keys(image_rows, text_rows)
    if budget.new(keys) > budget.left:
        raise ValueError(
            f"fsyn_search: screening {m} visual and {n} text units needs {budget.new(keys)} coalitions, more than "
            f"max_evaluations={budget.limit}; raise max_evaluations to at least {budget.new(keys)}"
        )
    budget.spend(keys)
    screen = pair_dividends(game, image_rows, text_rows).synergy
    return screen[:m], screen[m : m + n], float(screen[-2]), float(screen[-1])


def _affordable(candidates: list[_Candidate], chains: list[_Chain], budget: _Budget, reserve: int, m: int, n: int) -> tuple[list[_Candidate], set[bytes]]:
    """The leading candidates whose coalitions fit the budget, and those coalitions.

    ``reserve`` coalitions stay unspent for the later steps' bases; the first candidate (the
    best chain's base) may use them, so a budget that covers one base per step completes a chain.
    """
    chosen, step_keys = [], set()
    for candidate in candidates:
        chain = chains[candidate.parent]
        keys = step_keys | budget.keys(_mask(chain.image + candidate.image_extra, m)[None], _mask(chain.text + candidate.text_extra, n)[None])
        if budget.new(keys) > budget.left - (reserve if chosen else 0):
            break
        step_keys = keys
        chosen.append(candidate)
    return chosen, step_keys


def _grow(chains: list[_Chain], chosen: list[_Candidate], terms: np.ndarray, beam_width: int) -> list[_Chain]:
    """The ``beam_width`` best chains after a step, each re-ordering its rest by what its parent's swaps measured."""
    measured = [{"image": {}, "text": {}} for _ in chains]  # per parent: a unit's step synergy in the last slot
    for candidate, term in zip(chosen, terms):
        seen = measured[candidate.parent]
        if candidate.swapped:
            seen[candidate.swapped][candidate.unit] = float(term)
        else:
            if candidate.image_extra:
                seen["image"][candidate.image_extra[-1]] = float(term)
            if candidate.text_extra:
                seen["text"][candidate.text_extra[-1]] = float(term)
    best: dict[tuple[frozenset, frozenset], _Chain] = {}
    for candidate, term in zip(chosen, terms):
        parent = chains[candidate.parent]
        grown = _Chain(
            parent.image + candidate.image_extra,
            parent.text + candidate.text_extra,
            _reordered(parent.image_rest, candidate.image_extra, measured[candidate.parent]["image"]),
            _reordered(parent.text_rest, candidate.text_extra, measured[candidate.parent]["text"]),
            parent.terms + (float(term),),
        )
        key = (frozenset(grown.image), frozenset(grown.text))
        if key not in best or grown.total > best[key].total:  # same sets, same future: keep the better past
            best[key] = grown
    return sorted(best.values(), key=lambda chain: -chain.total)[:beam_width]  # stable: ties keep candidate order


def search_ranking(game: Game, steps: int = 11, beam_width: int = 2, pool: int = 32, max_evaluations: int = 4096) -> SearchResult:
    """Beam search through ``game`` for the ranking with the highest F_syn at K = ``steps``.

    See the module docstring for the algorithm and the budget. Every coalition goes through
    ``game``: one batched call for the screen, one per inner step.

    Raises:
        ValueError: ``max_evaluations`` does not cover the screen (4(m + n) + 4 coalitions).
    """
    steps = validate_steps(steps)
    m, n = game.n_image, game.n_text
    budget = _Budget(game, max_evaluations)
    sigma_image, sigma_text, first_term, last_term = _screen(game, budget)
    order = (tuple(int(u) for u in np.argsort(-sigma_image, kind="stable")), tuple(int(u) for u in np.argsort(-sigma_text, kind="stable")))
    chains = [_Chain((), (), order[0], order[1], (first_term,))]
    image_counts, text_counts = top_counts(m, steps), top_counts(n, steps)
    exhausted = False
    for k in range(1, steps - 1):
        grow_image, grow_text = int(image_counts[k] - image_counts[k - 1]), int(text_counts[k] - text_counts[k - 1])
        bases, swaps = [], []
        for parent, chain in enumerate(chains):
            base, more = _candidates(parent, chain, grow_image, grow_text, pool)
            bases.append(base)
            swaps += more
        # a base costs at most 6 new coalitions: keep that for every later inner step
        chosen, keys = _affordable(bases + swaps, chains, budget, 6 * (steps - 2 - k), m, n)
        if not chosen:
            exhausted = True
            break
        budget.spend(keys)
        image_sets = np.stack([_mask(chains[c.parent].image + c.image_extra, m) for c in chosen])
        text_sets = np.stack([_mask(chains[c.parent].text + c.text_extra, n) for c in chosen])
        chains = _grow(chains, chosen, pair_dividends(game, image_sets, text_sets).synergy, beam_width)

    winner = chains[0]
    step_synergy = np.full(steps, np.nan)
    step_synergy[: len(winner.terms)] = winner.terms
    if not exhausted:
        step_synergy[-1] = last_term
    return SearchResult(
        image_order=np.array(winner.image + winner.image_rest, dtype=np.int64),
        text_order=np.array(winner.text + winner.text_rest, dtype=np.int64),
        fsyn=float(step_synergy.mean()),
        step_synergy=step_synergy,
        screen_image=sigma_image,
        screen_text=sigma_text,
        steps=steps,
        coalitions=len(budget.asked),
        exhausted=exhausted,
    )


def order_scores(order: np.ndarray) -> np.ndarray:
    """Scores whose descending order is ``order``: unit ``order[p]`` gets ``(units − p) / units``."""
    scores = np.empty(order.size, dtype=np.float64)
    scores[order] = (order.size - np.arange(order.size)) / max(order.size, 1)
    return scores


class FsynSearch(Explainer):
    """The ranking with the highest F_syn a beam search through the game finds: an upper bound per instance.

    A reference rather than an explanation method: normalised F_syn = an explainer's F_syn /
    this one's on the same instance, headroom = this one's − the explainer's
    (:mod:`synfaith.analysis.headroom`). Its ``model_calls`` are the distinct coalitions it asked for.

    Args:
        steps: K the search optimises F_syn for; set it to the metric's K (default 11).
        beam_width: chains kept after each step.
        pool: how many next units of a modality (in the chain's order) a step may swap in.
        max_evaluations: most distinct coalitions the search may ask for, screen included
            (the screen alone needs 4(m + n) + 4).
        batch_size: coalitions per model forward pass (None: the adapter's).
    """

    name = "fsyn_search"
    requires = frozenset({GAME})  # the game alone: runs on black-box models
    description = "Upper bound on F_syn: a beam search through the game for the ranking with the highest F_syn"

    def __init__(self, steps: int = 11, beam_width: int = 2, pool: int = 32, max_evaluations: int = 4096, batch_size: int | None = None) -> None:
        validate_steps(steps)
        for option, value, least in (("beam_width", beam_width, 1), ("pool", pool, 0), ("max_evaluations", max_evaluations, 1)):
            if value < least:
                raise ValueError(f"fsyn_search: {option} must be an integer ≥ {least}, got {value!r}")
        self.steps = steps
        self.beam_width = beam_width
        self.pool = pool
        self.max_evaluations = max_evaluations
        self.batch_size = batch_size

    def attribute(self, model, prepared, target, *, game=None):
        game = game if game is not None else model.game(prepared, target, batch_size=self.batch_size)
        found = search_ranking(game, self.steps, self.beam_width, self.pool, self.max_evaluations)
        raw = {
            "fsyn_found": found.fsyn,
            "step_synergy": found.step_synergy,
            "screen_image": found.screen_image,
            "screen_text": found.screen_text,
            "exhausted": found.exhausted,
            "coalitions": found.coalitions,
        }
        return Scores(order_scores(found.image_order), order_scores(found.text_order), raw, found.coalitions)
