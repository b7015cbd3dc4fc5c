"""System metrics logging: CPU, memory, disk, network and GPU use, sampled into a run.

MLflow's ``mlflow.system_metrics``, with the same metric names, switches and environment
variables. ``start_run(log_system_metrics=True)`` (or ``enable_system_metrics_logging()``)
starts a ``SystemMetricsMonitor`` for the run: a daemon thread that samples every
``sampling_interval`` seconds, averages ``samples_before_logging`` samples and logs them as
``system/<name>`` metrics at steps 0, 1, 2, ... ``end_run`` stops it and logs what it sampled
since the last logging before the run is marked terminated.

Settings are read when a run starts, first from the setter functions here, then from
``$TRACKLITE_<NAME>``, then from ``$MLFLOW_<NAME>``, then the default.

``psutil`` is imported when a monitor starts, never at ``import tracklite``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracklite.entities import Metric, RunStatus
from tracklite.errors import InvalidParameterValue, TrackliteError

if TYPE_CHECKING:
    import logging

    from tracklite.tracking.client import Client

DEFAULT_SAMPLING_INTERVAL = 10.0
DEFAULT_SAMPLES_BEFORE_LOGGING = 1
METRICS_PREFIX = "system/"
#: Seconds ``finish`` waits for the sampling thread before giving up on it.
_JOIN_TIMEOUT_S = 10.0
#: Seconds between checks that the run is still RUNNING (a read of the store, so not every sample).
_STATUS_CHECK_S = 30.0
#: Keys holding a running total (since the monitor started): logged as the latest value, not averaged.
_CUMULATIVE_KEYS = frozenset({"network_receive_megabytes", "network_transmit_megabytes"})

# Set by the setter functions below; None means "read the environment".
_enabled: bool | None = None
_sampling_interval: float | None = None
_samples_before_logging: int | None = None
_node_id: str | None = None


def _log() -> logging.Logger:
    import logging  # on first use: `import tracklite` stays quick

    return logging.getLogger(__name__)


# -- settings -------------------------------------------------------------------------


def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on.

    ``start_run(log_system_metrics=False)`` still opts a single run out. This overrides
    ``$TRACKLITE_ENABLE_SYSTEM_METRICS_LOGGING``/``$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``.
    """
    global _enabled
    _enabled = True


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs started from now on (the default).

    ``start_run(log_system_metrics=True)`` still opts a single run in. This overrides
    ``$TRACKLITE_ENABLE_SYSTEM_METRICS_LOGGING``/``$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``.
    """
    global _enabled
    _enabled = False


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Sample system metrics every ``interval`` seconds (default 10) in runs started from now on.

    Args:
        interval: Seconds between samples, a positive number; None goes back to
            ``$TRACKLITE_SYSTEM_METRICS_SAMPLING_INTERVAL``/``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
            or the default.

    Raises:
        InvalidParameterValue: if ``interval`` is not a positive, finite number.
    """
    global _sampling_interval
    _sampling_interval = None if interval is None else _check_interval(interval, "system metrics sampling interval")


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """Log the average of every ``samples`` samples (default 1) in runs started from now on.

    Args:
        samples: Samples per logged point, a positive integer; None goes back to
            ``$TRACKLITE_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING``/``$MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING``
            or the default.

    Raises:
        InvalidParameterValue: if ``samples`` is not a positive integer.
    """
    global _samples_before_logging
    _samples_before_logging = (
        None if samples is None else _check_samples(samples, "system metrics samples before logging")
    )


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in system metric keys: ``system/<node_id>/cpu_utilization_percentage``.

    Useful when several machines log into one run (distributed training).

    Args:
        node_id: The node's name; None goes back to ``$TRACKLITE_SYSTEM_METRICS_NODE_ID``/
            ``$MLFLOW_SYSTEM_METRICS_NODE_ID`` or no node part.

    Raises:
        InvalidParameterValue: if the keys it makes are not valid metric names.
    """
    global _node_id
    _node_id = None if node_id is None else _check_node_id(node_id, "system metrics node id")


def _env(name: str) -> tuple[str, str] | None:
    """``(variable, value)`` of ``TRACKLITE_<name>``, else ``MLFLOW_<name>``, if set and non-empty."""
    for var in (f"TRACKLITE_{name}", f"MLFLOW_{name}"):
        value = os.environ.get(var)
        if value:
            return var, value
    return None


def _check_interval(value: object, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidParameterValue(f"Invalid {source} {value!r}: it must be a positive number of seconds, e.g. 10.")
    return float(value)


def _check_samples(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameterValue(f"Invalid {source} {value!r}: it must be a positive integer, e.g. 1.")
    return value


def _check_node_id(value: object, source: str) -> str:
    from tracklite.validation import validate_key

    if not isinstance(value, str) or not value:
        raise InvalidParameterValue(f"Invalid {source} {value!r}: it must be a non-empty string.")
    try:
        validate_key("metric", f"{METRICS_PREFIX}{value}/cpu_utilization_percentage")
    except InvalidParameterValue as exc:
        raise InvalidParameterValue(
            f"Invalid {source} {value!r}: it goes into metric names, so it may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/), and be short."
        ) from exc
    return value


def _enabled_by_default() -> bool:
    """Whether runs log system metrics when ``start_run`` leaves ``log_system_metrics`` None.

    Raises:
        InvalidParameterValue: if the environment variable is not true/false/1/0.
    """
    if _enabled is not None:
        return _enabled
    found = _env("ENABLE_SYSTEM_METRICS_LOGGING")
    if found is None:
        return False
    var, value = found
    if value.strip().lower() in ("true", "1"):
        return True
    if value.strip().lower() in ("false", "0"):
        return False
    raise InvalidParameterValue(f"${var} is {value!r}; set it to 'true' or 'false' (or '1'/'0').")


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """The settings a run's monitor starts with, resolved and checked before the run starts."""

    sampling_interval: float
    samples_before_logging: int
    node_id: str | None


def _current_settings() -> MonitorSettings:
    """Setter values, else environment, else defaults.

    Raises:
        InvalidParameterValue: if an environment variable holds an invalid value.
    """
    interval = _sampling_interval
    if interval is None:
        found = _env("SYSTEM_METRICS_SAMPLING_INTERVAL")
        interval = (
            DEFAULT_SAMPLING_INTERVAL if found is None else _check_interval(_number(found[1], float), f"${found[0]}")
        )
    samples = _samples_before_logging
    if samples is None:
        found = _env("SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING")
        samples = (
            DEFAULT_SAMPLES_BEFORE_LOGGING if found is None else _check_samples(_number(found[1], int), f"${found[0]}")
        )
    node_id = _node_id
    if node_id is None:
        found = _env("SYSTEM_METRICS_NODE_ID")
        node_id = None if found is None else _check_node_id(found[1], f"${found[0]}")
    return MonitorSettings(interval, samples, node_id)


def _number(value: str, kind: type[float] | type[int]) -> object:
    try:
        return kind(value)
    except ValueError:
        return value  # the check names the variable and the expected form


def settings_for_run(log_system_metrics: bool | None) -> MonitorSettings | None:
    """The monitor settings for a run about to start, or None when it logs no system metrics.

    Args:
        log_system_metrics: ``start_run``'s argument: True or False decide; None follows the
            global switch.

    Raises:
        InvalidParameterValue: for an invalid setting in the environment.
        TrackliteError: if system metrics are wanted and ``psutil`` is not installed.
    """
    wanted = _enabled_by_default() if log_system_metrics is None else bool(log_system_metrics)
    if not wanted:
        return None
    import importlib.util

    settings = _current_settings()
    if importlib.util.find_spec("psutil") is None:
        raise TrackliteError(
            "Failed to start system metrics monitoring as package `psutil` is not installed. Run "
            "`pip install psutil`, or turn system metrics off with `start_run(log_system_metrics=False)` "
            "or `tracklite.disable_system_metrics_logging()`."
        )
    return settings


# -- sampling -------------------------------------------------------------------------


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds of a ``psutil.cpu_times()`` result (psutil's own arithmetic)."""
    total = float(sum(times)) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0), total


class _GpuSampler:
    """NVIDIA GPUs through ``pynvml`` (``pip install nvidia-ml-py``); built only when one is found."""

    def __init__(self, pynvml: Any) -> None:
        self.nvml = pynvml
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            raise RuntimeError("NVML found no GPU")
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def sample(self, out: dict[str, float]) -> None:
        nvml = self.nvml
        for i, handle in enumerate(self.handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                out[f"gpu_{i}_memory_usage_percentage"] = round(memory.used / memory.total * 100, 1)
                out[f"gpu_{i}_memory_usage_megabytes"] = memory.used / 1e6
            except nvml.NVMLError as exc:
                _log().debug("GPU %d memory: %s", i, exc)
            try:
                out[f"gpu_{i}_utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except nvml.NVMLError as exc:
                _log().debug("GPU %d utilization: %s", i, exc)
            try:
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                limit = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
                out[f"gpu_{i}_power_usage_watts"] = milliwatts / 1000
                out[f"gpu_{i}_power_usage_percentage"] = milliwatts / limit * 100
            except nvml.NVMLError as exc:
                _log().debug("GPU %d power: %s", i, exc)


def _gpu_sampler() -> _GpuSampler | None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the old `pynvml` package warns that it is deprecated
            import pynvml
        return _GpuSampler(pynvml)
    except Exception:  # noqa: BLE001 - no pynvml, no driver or no GPU: log no GPU metrics
        _log().debug("No GPU metrics: pynvml is missing or found no NVIDIA GPU.", exc_info=True)
        return None


class SystemMetricsMonitor:
    """Samples system metrics on a daemon thread and logs them into one run.

    Every ``sampling_interval`` seconds the thread takes a sample; every
    ``samples_before_logging`` samples it logs their average (network totals: the latest
    value), rounded to one decimal, as ``system/[<node_id>/]<name>`` at the next step.
    ``finish`` stops the thread, takes a last sample and logs what is pending. A failing
    sample is skipped with one warning; a failing log stops the monitor with one warning:
    neither reaches the program being monitored.

    Metrics: ``cpu_utilization_percentage``, ``system_memory_usage_megabytes``,
    ``system_memory_usage_percentage``, ``disk_usage_percentage``, ``disk_usage_megabytes``,
    ``disk_available_megabytes``, ``network_receive_megabytes``, ``network_transmit_megabytes``
    (since the monitor started) and, with ``pynvml`` and NVIDIA GPUs, for each GPU ``i``:
    ``gpu_{i}_utilization_percentage``, ``gpu_{i}_memory_usage_percentage``,
    ``gpu_{i}_memory_usage_megabytes``, ``gpu_{i}_power_usage_watts``,
    ``gpu_{i}_power_usage_percentage``.

    Args:
        run_id: The run to log into.
        sampling_interval: Seconds between samples; default: the current setting (10).
        samples_before_logging: Samples averaged into one logged point; default: the current setting (1).
        node_id: Put into the keys after ``system/``; default: the current setting (none).
        tracking_uri: The store; default: ``tracklite.get_tracking_uri()``.
        resume_logging: Continue after the run's last logged system metrics step instead of at 0.

    Raises:
        InvalidParameterValue: for an invalid interval, sample count or node id.
        ResourceDoesNotExist: if the run does not exist.
    """

    def __init__(
        self,
        run_id: str,
        *,
        sampling_interval: float | None = None,
        samples_before_logging: int | None = None,
        node_id: str | None = None,
        tracking_uri: str | None = None,
        resume_logging: bool = False,
    ) -> None:
        from tracklite.tracking.client import Client

        current = (
            _current_settings()
            if sampling_interval is None or samples_before_logging is None or node_id is None
            else MonitorSettings(DEFAULT_SAMPLING_INTERVAL, DEFAULT_SAMPLES_BEFORE_LOGGING, None)
        )
        self.sampling_interval = (
            current.sampling_interval
            if sampling_interval is None
            else _check_interval(sampling_interval, "system metrics sampling interval")
        )
        self.samples_before_logging = (
            current.samples_before_logging
            if samples_before_logging is None
            else _check_samples(samples_before_logging, "system metrics samples before logging")
        )
        self.node_id = current.node_id if node_id is None else _check_node_id(node_id, "system metrics node id")
        self.run_id = run_id
        self._prefix = METRICS_PREFIX + (f"{self.node_id}/" if self.node_id else "")
        self._client: Client = Client(tracking_uri)
        self._client.store.metric_writer(run_id)  # checks the run here, in the caller's thread
        self._step = self._next_step() if resume_logging else 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: list[dict[str, float]] = []
        self._warned_sample = False
        self._failed = False
        self._psutil: Any = None
        self._gpu: _GpuSampler | None = None
        self._last_cpu: tuple[float, float] | None = None
        self._net_start = (0.0, 0.0)

    @property
    def is_running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def step(self) -> int:
        """The step the next logged point gets."""
        return self._step

    def _next_step(self) -> int:
        try:
            history = self._client.get_metric_history(self.run_id, self._prefix + "cpu_utilization_percentage")
        except TrackliteError:
            return 0
        return max((m.step for m in history), default=-1) + 1

    def start(self) -> None:
        """Import ``psutil``, take the baselines and start the sampling thread.

        Raises:
            ImportError: if ``psutil`` is not installed.
        """
        if self._thread is not None:
            return
        import psutil

        self._psutil = psutil
        self._last_cpu = _busy_and_total(psutil.cpu_times())
        net = psutil.net_io_counters()
        self._net_start = (net.bytes_recv / 1e6, net.bytes_sent / 1e6) if net is not None else (0.0, 0.0)
        self._gpu = _gpu_sampler()
        self._thread = threading.Thread(target=self._loop, name="tracklite-system-metrics", daemon=True)
        self._thread.start()
        _log().info("Started logging system metrics into run %s every %ss.", self.run_id, self.sampling_interval)

    def collect_metrics(self) -> dict[str, float]:
        """One sample: every metric's current value, keyed without the ``system/`` prefix."""
        psutil = self._psutil
        out: dict[str, float] = {}
        busy, total = _busy_and_total(psutil.cpu_times())
        if self._last_cpu is not None and total > self._last_cpu[1]:
            share = (busy - self._last_cpu[0]) / (total - self._last_cpu[1]) * 100
            out["cpu_utilization_percentage"] = min(100.0, max(0.0, share))
        self._last_cpu = (busy, total)
        memory = psutil.virtual_memory()
        out["system_memory_usage_megabytes"] = memory.used / 1e6
        out["system_memory_usage_percentage"] = memory.used / memory.total * 100
        disk = psutil.disk_usage(os.sep)
        out["disk_usage_percentage"] = float(disk.percent)
        out["disk_usage_megabytes"] = disk.used / 1e6
        out["disk_available_megabytes"] = disk.free / 1e6
        net = psutil.net_io_counters()
        if net is not None:
            out["network_receive_megabytes"] = net.bytes_recv / 1e6 - self._net_start[0]
            out["network_transmit_megabytes"] = net.bytes_sent / 1e6 - self._net_start[1]
        if self._gpu is not None:
            self._gpu.sample(out)
        return out

    @staticmethod
    def aggregate_metrics(samples: list[dict[str, float]]) -> dict[str, float]:
        """The point logged for ``samples``: each key's mean (totals: the last value), to one decimal."""
        values: dict[str, list[float]] = {}
        for sample in samples:
            for key, value in sample.items():
                values.setdefault(key, []).append(value)
        return {key: round(vs[-1] if key in _CUMULATIVE_KEYS else sum(vs) / len(vs), 1) for key, vs in values.items()}

    def _sample(self) -> None:
        try:
            self._pending.append(self.collect_metrics())
        except Exception as exc:  # noqa: BLE001 - a monitor never breaks the program it watches
            if not self._warned_sample:
                self._warned_sample = True
                _log().warning("Skipping a system metrics sample of run %s: %r", self.run_id, exc)

    def _publish(self) -> bool:
        """Log the pending samples' aggregate at the next step; False (after one warning) if that failed."""
        samples, self._pending = self._pending, []
        metrics = self.aggregate_metrics(samples)
        if not metrics:
            return True
        now = int(time.time() * 1000)
        try:
            self._client.log_batch(
                self.run_id, metrics=[Metric(self._prefix + k, v, now, self._step) for k, v in metrics.items()]
            )
        except Exception as exc:  # noqa: BLE001 - a monitor never breaks the program it watches
            self._failed = True
            _log().warning("Stopped logging system metrics of run %s: %r", self.run_id, exc)
            return False
        self._step += 1
        return True

    def _run_is_running(self) -> bool:
        try:
            return self._client.get_run(self.run_id).info.status == RunStatus.RUNNING
        except Exception as exc:  # noqa: BLE001 - the store may be closing: stop quietly
            _log().debug("System metrics of run %s stop: %r", self.run_id, exc)
            return False

    def _loop(self) -> None:
        # Samples keep to a fixed schedule however long sampling and logging take.
        next_sample = last_check = time.monotonic()
        while True:
            next_sample += self.sampling_interval
            if self._stop.wait(max(0.0, next_sample - time.monotonic())):
                return  # finish() logs what is pending
            self._sample()
            if len(self._pending) < self.samples_before_logging:
                continue
            if time.monotonic() - last_check >= _STATUS_CHECK_S:
                last_check = time.monotonic()
                # Like MLflow, stop once the run was ended some other way (e.g. Client.set_terminated).
                if not self._run_is_running():
                    self._pending.clear()
                    self._failed = True  # nothing more goes into an ended run, not even at finish
                    return
            if not self._publish():
                return
            if next_sample < time.monotonic() - self.sampling_interval:
                next_sample = time.monotonic()  # fell behind (a suspended process): no burst to catch up

    def finish(self, *, flush: bool = True) -> None:
        """Stop the thread and, with ``flush``, log a last sample with what is pending.

        Never raises: a monitor that cannot stop in time or log is abandoned with a warning.

        Args:
            flush: Take a last sample and log the pending ones (``end_run`` does); False drops them.
        """
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        if thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)
        if thread.is_alive():
            _log().warning("The system metrics thread of run %s did not stop in time; left behind.", self.run_id)
            return
        self._thread = None
        if flush and not self._failed:
            self._sample()
            self._publish()
        self._pending.clear()


def start_monitor(
    run_id: str, settings: MonitorSettings, tracking_uri: str, *, resume_logging: bool = False
) -> SystemMetricsMonitor | None:
    """Start a monitor for ``run_id``; a failure is logged as an error and gives None, as in MLflow.

    Args:
        run_id: The run to log into.
        settings: From ``settings_for_run``.
        tracking_uri: The store.
        resume_logging: Continue after the run's last logged system metrics step.
    """
    try:
        monitor = SystemMetricsMonitor(
            run_id,
            sampling_interval=settings.sampling_interval,
            samples_before_logging=settings.samples_before_logging,
            node_id=settings.node_id,
            tracking_uri=tracking_uri,
            resume_logging=resume_logging,
        )
        monitor.start()
    except Exception as exc:  # noqa: BLE001 - the run goes on without system metrics
        _log().error("Failed to start system metrics monitoring of run %s: %r", run_id, exc)
        return None
    return monitor
