"""What each autologging integration was asked to do: one ``AutologConfig`` per flavor."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tracklite.errors import InvalidParameterValue


@dataclass(frozen=True)
class AutologConfig:
    """The switches of ``autolog``, as MLflow names them; ``options`` holds flavor-specific ones
    (``importance_types``, ``model_format``, ``serialization_format``, ``pos_label`` ...)."""

    log_models: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    disable: bool = False
    exclusive: bool = False
    silent: bool = False
    max_tuning_runs: int | None = 5
    log_post_training_metrics: bool = True
    registered_model_name: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_tuning_runs is not None and (not isinstance(self.max_tuning_runs, int) or self.max_tuning_runs < 0):
            raise InvalidParameterValue(
                f"max_tuning_runs={self.max_tuning_runs!r} must be a non-negative int, or None for every candidate"
            )
        if not isinstance(self.extra_tags, dict):
            raise InvalidParameterValue(f"extra_tags must be a dict of tag names to values, got {self.extra_tags!r}")


_lock = threading.Lock()
_configs: dict[str, AutologConfig] = {}


def set_config(flavor: str, config: AutologConfig) -> None:
    """Record ``flavor``'s configuration (``disable=True`` keeps the record, switched off)."""
    with _lock:
        _configs[flavor] = config


def get_config(flavor: str) -> AutologConfig | None:
    """``flavor``'s configuration, or ``None`` when ``autolog`` was never called for it."""
    return _configs.get(flavor)


def is_enabled(flavor: str) -> bool:
    """Whether ``flavor`` autologs now."""
    config = _configs.get(flavor)
    return config is not None and not config.disable


def configure(flavor: str, *, extra_tags: dict[str, Any] | None = None, **settings: Any) -> AutologConfig:
    """Check and record ``flavor``'s settings (tag values stored as strings)."""
    config = AutologConfig(extra_tags={str(k): str(v) for k, v in (extra_tags or {}).items()}, **settings)
    set_config(flavor, config)
    return config
