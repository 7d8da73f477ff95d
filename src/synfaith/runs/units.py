"""Work units: the blocks of instances a run hands to its executor, in a fixed order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synfaith.runs.config import RunConfig


@dataclass(frozen=True)
class WorkUnit:
    """A block of one dataset's instances for one model."""

    model: int
    dataset: int
    positions: tuple[int, ...]  # positions in the dataset's selected index list
    number: int  # the unit's place in the plan


def limited_positions(config: RunConfig) -> int:
    """How many leading instances of each dataset run a metric with a limit (the exact SII,
    the probes): the largest such limit, 0 when no limited metric runs or none is limited."""
    from synfaith.metrics.registry import get_metric

    settings = config.metrics.model_dump()
    limits = [settings.get(get_metric(name).limit) for name in config.metrics.compute if get_metric(name).limit]
    return max((limit for limit in limits if limit is not None), default=0) if all(limit is not None for limit in limits) else 0


def plan_units(config: RunConfig, selected: Sequence[Sequence[int]]) -> list[WorkUnit]:
    """Every work unit of the run, in a fixed order (model, dataset, block).

    Blocks hold ``shard_size`` instances, except the leading instances that run a limited
    metric (:func:`limited_positions`): each of those is a unit of its own. They cost many
    times a light instance (the exact SII: ~35× F_syn's evaluations per pair), so blocks of
    them would leave one worker finishing the last heavy block while the others idle.
    """
    size = config.execution.shard_size
    heavy = limited_positions(config)
    units = []
    for m in range(len(config.models)):
        for d, indices in enumerate(selected):
            start = 0
            while start < len(indices):
                stop = start + 1 if start < heavy else min(start + size, len(indices))
                units.append(WorkUnit(m, d, tuple(range(start, stop)), len(units)))
                start = stop
    return units
