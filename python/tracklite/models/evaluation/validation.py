"""Metric thresholds: ``MetricThreshold`` and ``validate_evaluation_results``."""

from __future__ import annotations

from typing import Any

from tracklite.errors import InvalidParameterValue, TrackliteError


class ModelValidationFailedException(TrackliteError):
    """A candidate model broke one or more ``MetricThreshold`` rules."""

    error_code = "BAD_REQUEST"
    http_status = 400


class MetricThreshold:
    """A rule for one metric: an absolute ``threshold`` and/or a minimum change over the baseline."""

    def __init__(
        self,
        threshold: float | None = None,
        min_absolute_change: float | None = None,
        min_relative_change: float | None = None,
        greater_is_better: bool | None = None,
    ) -> None:
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise InvalidParameterValue("no threshold given: set threshold, min_absolute_change or min_relative_change")
        if min_absolute_change is not None and min_absolute_change <= 0:
            raise InvalidParameterValue("min_absolute_change must be a positive number")
        if min_relative_change is not None and not 0 < min_relative_change <= 1:
            raise InvalidParameterValue("min_relative_change must be a number in (0, 1]")
        if greater_is_better is None:
            raise InvalidParameterValue("greater_is_better is required (True or False)")
        self.threshold = threshold
        self.min_absolute_change = min_absolute_change
        self.min_relative_change = min_relative_change
        self.greater_is_better = greater_is_better

    def failures(self, name: str, candidate: float | None, baseline: float | None) -> list[str]:
        """One line per rule ``candidate`` breaks (empty when it passes)."""
        if candidate is None:
            return [f"{name}: metric not computed for the candidate model"]
        sign = 1 if self.greater_is_better else -1
        word = ">=" if self.greater_is_better else "<="
        head = f"{name}: candidate={candidate!r} baseline={baseline!r}"
        out = []
        if self.threshold is not None and sign * (candidate - self.threshold) < 0:
            out.append(f"{head} breaks threshold: must be {word} {self.threshold}")
        if self.min_absolute_change is not None or self.min_relative_change is not None:
            if baseline is None:
                out.append(f"{head} breaks a change rule: no baseline value to compare with")
                return out
            change = sign * (candidate - baseline)
            if self.min_absolute_change is not None and change < self.min_absolute_change:
                out.append(f"{head} breaks min_absolute_change={self.min_absolute_change}")
            if self.min_relative_change is not None:
                rel = change / abs(baseline) if baseline != 0 else (float("inf") if change > 0 else 0.0)
                if rel < self.min_relative_change:
                    out.append(f"{head} breaks min_relative_change={self.min_relative_change}")
        return out


def validate_evaluation_results(
    candidate_result: Any, baseline_result: Any, validation_thresholds: dict[str, MetricThreshold]
) -> None:
    """Raise ``ModelValidationFailedException`` listing every failed threshold, as MLflow 3 does."""
    base = baseline_result.metrics if baseline_result is not None else {}
    check_metrics(candidate_result.metrics, base, validation_thresholds)


def check_metrics(
    candidate: dict[str, float], baseline: dict[str, float], thresholds: dict[str, MetricThreshold]
) -> None:
    """The comparison behind ``validate_evaluation_results`` on plain metric dictionaries."""
    lines = []
    for name, rule in thresholds.items():
        lines += rule.failures(name, candidate.get(name), baseline.get(name))
    if lines:
        raise ModelValidationFailedException("Model validation failed:\n" + "\n".join(lines))
