"""Which model families exist: the built-in modules and the plug-ins.

Families are the built-in modules of :mod:`sse_flows.potentials.families` plus any
object registered under the ``sse_flows.potentials`` entry-point group (a
:class:`PotentialFamily` instance or subclass), so a third-party package adds a
family without editing sse-flows. A plug-in that fails to load is reported when its
name is asked for; it never breaks the others.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points

from sse_flows.errors import UnknownPotentialError
from sse_flows.potentials.families import BUILTIN_MODULES
from sse_flows.potentials.family import PotentialFamily

ENTRY_POINT_GROUP = "sse_flows.potentials"

_FAMILIES: dict[str, PotentialFamily] = {}
_BROKEN: dict[str, str] = {}  # entry point name -> why it could not be loaded
_FAMILIES_LOCK = threading.Lock()


def _discover() -> None:
    """Fill the family table: built-in modules, then entry points."""
    found: dict[str, PotentialFamily] = {}
    for module in BUILTIN_MODULES:
        family = importlib.import_module(f"sse_flows.potentials.families.{module}").FAMILY
        found[family.name] = family
    _BROKEN.clear()
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = point.load()
            family = value() if isinstance(value, type) else value
            if not isinstance(family, PotentialFamily):
                raise TypeError(f"{point.value} is not a PotentialFamily")
        except Exception as exc:  # a broken plug-in must not break the registry
            _BROKEN[point.name] = f"{type(exc).__name__}: {exc}"
            continue
        if family.name in found:
            _BROKEN[point.name] = f"family name '{family.name}' is taken"
            continue
        found[family.name] = family
    _FAMILIES.clear()
    _FAMILIES.update(found)


def families() -> dict[str, PotentialFamily]:
    """Every family this installation knows, by name."""
    with _FAMILIES_LOCK:
        if not _FAMILIES:
            _discover()
        return dict(_FAMILIES)


def refresh_families() -> None:
    """Look for families again (after installing a plug-in in this process)."""
    with _FAMILIES_LOCK:
        _FAMILIES.clear()


def get_family(name: str) -> PotentialFamily:
    """Return the family for a name or alias."""
    key = name.strip().lower()
    table = families()
    for family in table.values():
        if key == family.name or key in family.aliases:
            return family
    broken = (
        f" The plug-in '{key}' failed to load: {_BROKEN[key]}." if key in _BROKEN else ""
    )
    raise UnknownPotentialError(
        f"Unknown potential '{name}'. Known: {', '.join(sorted(table))}.{broken}"
    )
