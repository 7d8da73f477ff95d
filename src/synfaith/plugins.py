"""Plugins in every command: installed entry points, ``--include_path`` folders and ``imports:`` modules.

A plugin is a Python module that registers explainers, datasets, adapters or metrics with the
ordinary ``register_*`` calls when it is imported. synfaith finds plugins three ways:

* an installed distribution's entry point in the ``synfaith.plugins`` group (always loaded);
* ``--include_path DIR`` (lmms-eval's flag; a config's ``include_paths:``): every ``*.py`` file
  directly in DIR is imported, and DIR goes on ``sys.path`` so those files can import their
  siblings;
* ``--imports NAME`` and a config's ``imports:`` list: a module name (``my_pkg.explainers``)
  or the path of one ``.py`` file.

:func:`load_plugins` does all three and is what every command (``run``, ``report``,
``explain``, ``explainers list``, …) calls before it reads a registry;
:func:`add_plugin_arguments` gives a command its two flags. Loading is idempotent: a module is
imported once per process, however often it is named.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadedPlugins", "PluginError", "add_plugin_arguments", "load_plugins", "plugin_lists", "resolve_plugin_lists"]


class PluginError(ImportError):
    """A named plugin could not be imported; the message names it and how to fix it."""


@dataclass(frozen=True)
class LoadedPlugins:
    """What :func:`load_plugins` imported.

    Attributes:
        include_paths: the include folders, absolute.
        imports: the ``imports`` entries, file paths made absolute.
        modules: every module imported from them, by name.
        files: ``{module: source file}`` of those modules (for the run's provenance record).
        entry_point_errors: warnings of installed entry points that failed to import (skipped).
    """

    include_paths: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    entry_point_errors: tuple[str, ...] = ()


def _is_file_entry(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def resolve_plugin_lists(include_paths: Iterable[str] = (), imports: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(include_paths, imports)`` with paths made absolute (against the working directory), duplicates dropped.

    Raises:
        PluginError: an entry is not a string, an include path is not a folder, or an
            ``imports`` file does not exist.
    """
    folders: list[str] = []
    for folder in include_paths:
        if not isinstance(folder, str) or not folder:
            raise PluginError(f"include_paths: expected folder paths, got {folder!r}")
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise PluginError(f"--include_path {folder!r} is not a directory: give a folder of plugin .py files")
        folders.append(str(path))
    modules: list[str] = []
    for entry in imports:
        if not isinstance(entry, str) or not entry.strip():
            raise PluginError(f"imports: expected module names or .py paths, got {entry!r}")
        entry = entry.strip()
        if _is_file_entry(entry):
            path = Path(entry).expanduser().resolve()
            if not path.is_file():
                raise PluginError(f"imports: {entry!r} is not a file: give a module name (my_pkg.plugin) or the path of a .py file")
            entry = str(path)
        modules.append(entry)
    return list(dict.fromkeys(folders)), list(dict.fromkeys(modules))


def _import_file(path: Path, what: str) -> str:
    """Import one ``.py`` file under its stem's name (its folder on ``sys.path``); returns the module name."""
    name = path.stem
    if not name.isidentifier():
        raise PluginError(f"cannot import {what}: {path.name!r} is not a valid module name; rename it (letters, digits, _)")
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return name
        raise PluginError(
            f"cannot import {what}: the module name {name!r} is already taken by {getattr(loaded, '__file__', None) or 'a built-in module'}; "
            "rename the file"
        )
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise PluginError(f"cannot import {what}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - one line naming the file
        del sys.modules[name]
        raise PluginError(f"cannot import {what}: {type(error).__name__}: {error}") from error
    return name


def _import_module(name: str, what: str) -> str:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise PluginError(
                f"cannot import {what}: no module named {error.name!r}; install it, or pass the folder that holds it "
                "with --include_path (include_paths:), or give the path of its .py file"
            ) from error
        raise PluginError(f"cannot import {what}: {type(error).__name__}: {error}") from error
    except Exception as error:  # noqa: BLE001 - one line naming the module
        raise PluginError(f"cannot import {what}: {type(error).__name__}: {error}") from error
    return name


def load_plugins(include_paths: Iterable[str] = (), imports: Iterable[str] = ()) -> LoadedPlugins:
    """Import every plugin: installed entry points, then each include folder's ``*.py``, then each ``imports`` entry.

    Args:
        include_paths: folders (lmms-eval's ``--include_path``); each goes on ``sys.path`` and
            every ``*.py`` file directly in it is imported, in name order.
        imports: module names, or paths of ``.py`` files.

    Returns:
        what was loaded (:class:`LoadedPlugins`).

    Raises:
        PluginError: a named folder, file or module is missing or fails to import (an
            installed entry point that fails is only a warning, as before).
    """
    from synfaith.registry import load_plugins as load_entry_points

    errors = load_entry_points()
    folders, entries = resolve_plugin_lists(include_paths, imports)
    modules: list[str] = []
    for folder in folders:
        if folder not in sys.path:
            sys.path.insert(0, folder)
        for file in sorted(Path(folder).glob("*.py")):
            modules.append(_import_file(file.resolve(), f"{file} (from --include_path {folder})"))
    for entry in entries:
        if _is_file_entry(entry):
            modules.append(_import_file(Path(entry), f"{entry} (from imports)"))
        else:
            modules.append(_import_module(entry, f"module {entry!r} (from imports)"))
    modules = list(dict.fromkeys(modules))
    files = tuple((m, str(getattr(sys.modules.get(m), "__file__", None))) for m in modules)
    return LoadedPlugins(tuple(folders), tuple(entries), tuple(modules), files, tuple(errors))


def _split(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--include_path DIR`` and ``--imports MODULE`` (both repeatable) to a command's parser."""
    group = parser.add_argument_group("plugins")
    group.add_argument(
        "--include_path", action="append", metavar="DIR", default=None,
        help="a folder of plugin .py files to import before anything else (repeatable; lmms-eval's flag)",
    )
    group.add_argument(
        "--imports", action="append", metavar="MODULE", default=None,
        help="plugin modules (my_pkg.plugin) or .py files to import, comma-separated or repeated (a config's imports:)",
    )


def plugin_lists(args: argparse.Namespace, config_data: dict | None = None) -> tuple[list[str], list[str]]:
    """``(include_paths, imports)`` of a config mapping's ``include_paths:``/``imports:`` followed by the flags'."""
    config_data = config_data or {}
    lists = []
    for key, flag in (("include_paths", "include_path"), ("imports", "imports")):
        value = config_data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise PluginError(f"{key}: expected a list of strings, got {type(value).__name__}")
        given = getattr(args, flag, None) or []
        lists.append([*value, *(_split(given) if key == "imports" else given)])
    return lists[0], lists[1]
