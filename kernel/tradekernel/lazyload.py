"""Module attributes imported on first use (:pep:`562`), for a package that re-exports
names from its modules but must stay cheap to import (a plugin whose registration needs
none of them)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(module_name: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module_name`` that imports each of ``names``
    (name -> module, absolute or relative to ``module_name``) on first use and keeps it
    in the module, so later lookups cost nothing::

        __getattr__ = lazy_exports(__name__, {"ChatClient": ".client"})
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, module_name), name)
        setattr(sys.modules[module_name], name, value)
        return value

    return __getattr__
