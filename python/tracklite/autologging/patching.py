"""Replacing library methods with logging wrappers, and putting the originals back.

Each patch is recorded per flavor, so ``autolog(disable=True)`` (or a second ``autolog`` call
with new settings) restores exactly what was there. A wrapper keeps the original's name,
docstring and signature, and calls the original exactly once.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from tracklite.autologging.config import is_enabled

# A patched method gets the original as its first argument.
Patch = Callable[..., Any]

_INHERITED = object()  # the method was inherited: unpatching deletes the class's own copy
_lock = threading.Lock()
_patched: dict[str, list[tuple[Any, str, Any]]] = {}


def patch_method(flavor: str, owner: Any, name: str, patch: Patch) -> bool:
    """Wrap ``owner.name`` with ``patch``: a method of the class ``owner`` (set on ``owner`` itself
    even when inherited, so its parents and siblings keep theirs), or a function of the module
    ``owner``.

    Returns:
        Whether a method was patched.
    """
    original = inspect.getattr_static(owner, name, None)
    if original is not None and not callable(original) and callable(getattr(original, "fn", None)):
        # scikit-learn's ``available_if`` descriptor (Pipeline.predict ...): wrap the function inside.
        owner, name, original = original, "fn", original.fn
    if original is None or getattr(original, "__tracklite_original__", None) is not None:
        return False
    if isinstance(original, staticmethod | classmethod) or not callable(original):
        return False  # fit and friends are plain methods; leave the unusual alone

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_enabled(flavor):
            return original(*args, **kwargs)
        return patch(original, *args, **kwargs)

    wrapper.__tracklite_original__ = original  # type: ignore[attr-defined]
    own = name in vars(owner)
    with _lock:
        setattr(owner, name, wrapper)
        _patched.setdefault(flavor, []).append((owner, name, original if own else _INHERITED))
    return True


def unpatch(flavor: str) -> None:
    """Restore every original ``flavor`` replaced."""
    with _lock:
        for owner, name, original in reversed(_patched.pop(flavor, [])):
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def is_patched(flavor: str) -> bool:
    """Whether ``flavor`` has patches in place."""
    return bool(_patched.get(flavor))
