"""The generic registry: lazy built-ins, no silent shadowing, clear errors."""

import pytest

from synfaith.registry import Registry, RegistryError


class Random:  # same class name as the built-in explainer, another module
    name = "random"


def test_a_plugin_cannot_shadow_a_built_in_by_sharing_its_class_name():
    from synfaith.explainers import EXPLAINERS

    with pytest.raises(RegistryError, match=r"explainer name .random. is (already registered|taken by (the built-in )?synfaith.explainers.random_baseline)"):
        EXPLAINERS.register("random", Random)
    assert EXPLAINERS["random"].__module__ == "synfaith.explainers.random_baseline"


def test_lazy_entries_load_on_first_use_and_unknown_names_list_the_known_ones():
    registry = Registry("thing", {"path": "pathlib:Path"})
    assert "path" in registry and registry.names() == ["path"]
    import pathlib

    assert registry["path"] is pathlib.Path
    registry.register("path", pathlib.Path)  # the built-in object itself: a no-op
    with pytest.raises(RegistryError, match="unknown thing 'nope'; known: path"):
        registry["nope"]
    with pytest.raises(ValueError):  # a RegistryError is also a ValueError: the CLI prints one line
        registry["nope"]
