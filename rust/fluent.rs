//! The fluent `tracklite.log_metric`: one native call from Python to the active run's buffer.
//!
//! `tracklite.tracking.fluent` keeps the active run's `RunWriter` here ([`set_active_writer`])
//! and registers its Python implementation as the fallback ([`set_log_metric_fallback`]) for
//! everything else: no active run (start one), an explicit `run_id` (the `Client` path).
//!
//! The cells are process-global and only hold their lock to clone or swap a reference: a value's
//! `__float__`/`__index__` and the fallback run Python code that may call back in here.
//!
//! The hot path does not take the lock: each thread caches the active writer with the cell's
//! generation, and only rereads the cell when the generation (one atomic load) has changed.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::metrics::PyRunWriter;

/// The writer of the active run, if any.
static ACTIVE: RwLock<Option<Py<PyRunWriter>>> = RwLock::new(None);

/// Bumped by every [`set_active_writer`] (under the `ACTIVE` write lock).
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's copy of `ACTIVE` and the generation it was read at (0: never).
    static CACHED: RefCell<(u64, Option<Py<PyRunWriter>>)> = const { RefCell::new((0, None)) };
}

/// Python's `_log_metric_slow`.
static FALLBACK: RwLock<Option<Py<PyAny>>> = RwLock::new(None);

/// The active writer: this thread's cached copy, reread from `ACTIVE` if it changed since.
#[inline]
fn active_writer<'py>(py: Python<'py>) -> Option<Bound<'py, PyRunWriter>> {
    let generation = GENERATION.load(Ordering::Acquire);
    let (writer, stale) = CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        let mut stale = None;
        if cached.0 != generation {
            let active = ACTIVE.read().unwrap_or_else(PoisonError::into_inner);
            // Read under the lock: the generation that goes with this value.
            let fresh = (
                GENERATION.load(Ordering::Acquire),
                active.as_ref().map(|w| w.clone_ref(py)),
            );
            drop(active);
            stale = std::mem::replace(&mut *cached, fresh).1;
        }
        (cached.1.as_ref().map(|w| w.bind(py).clone()), stale)
    });
    // Dropped outside the borrow and the lock: the last reference to a writer may close its log.
    drop(stale);
    writer
}

fn get<'py, T>(py: Python<'py>, cell: &RwLock<Option<Py<T>>>) -> Option<Bound<'py, T>> {
    cell.read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|p| p.bind(py).clone())
}

/// Log one metric point to the active run (starting one if none is active).
///
/// The point is in memory on return, durable in the process's log within the flush
/// interval (100 ms), and visible to queries after ``flush()`` or the end of the run.
///
/// Args:
///     key: Metric name (MLflow's rules: ``[/\w.\- :]``, at most 250 characters).
///     value: A number (``float``, ``int`` or anything with ``__float__``, such as NumPy
///         scalars); NaN and infinities are kept. Bools, strings and ``None`` are rejected.
///     step: Integer step (anything with ``__index__``, not a bool), default 0.
///     timestamp: Epoch milliseconds, a nonnegative integer, default now.
///     synchronous: Accepted for MLflow compatibility (logging never blocks on IO).
///     run_id: Log to this run instead of the active one.
///
/// Raises:
///     InvalidParameterValue: for a bad key, value, step or timestamp.
///     ResourceDoesNotExist: if ``run_id`` is not a run.
///     ValueError: if the active run's metric log was closed under it.
#[pyfunction]
#[pyo3(signature = (key, value, step = None, timestamp = None, synchronous = None, run_id = None))]
pub fn log_metric(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    step: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
    synchronous: Option<&Bound<'_, PyAny>>,
    run_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    if run_id.is_none()
        && let Some(writer) = active_writer(py)
    {
        writer.get().log_point(key, value, step, timestamp)?;
        return Ok(py.None());
    }
    log_metric_fallback(py, key, value, step, timestamp, synchronous, run_id)
}

#[cold]
#[inline(never)]
fn log_metric_fallback(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    step: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
    synchronous: Option<&Bound<'_, PyAny>>,
    run_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let Some(fallback) = get(py, &FALLBACK) else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "tracklite._core.log_metric has no fallback; import tracklite first",
        ));
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("step", step)?;
    kwargs.set_item("timestamp", timestamp)?;
    kwargs.set_item("synchronous", synchronous)?;
    kwargs.set_item("run_id", run_id)?;
    Ok(fallback.call((key, value), Some(&kwargs))?.unbind())
}

/// Sets (or with `None` clears) the writer `log_metric` logs to when no `run_id` is given.
#[pyfunction]
pub fn set_active_writer(writer: Option<Py<PyRunWriter>>) {
    let old = {
        let mut active = ACTIVE.write().unwrap_or_else(PoisonError::into_inner);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        std::mem::replace(&mut *active, writer)
    };
    // Drop this thread's copy now (other threads drop theirs on their next call or exit).
    let mine = CACHED
        .try_with(|cached| {
            cached
                .try_borrow_mut()
                .map(|mut c| std::mem::take(&mut *c))
                .ok()
        })
        .ok()
        .flatten();
    // Outside the lock and the borrow: the last reference to a writer may close its log.
    drop((old, mine));
}

/// Sets the Python function `log_metric` calls when it cannot log to the active writer.
#[pyfunction]
pub fn set_log_metric_fallback(r#fn: &Bound<'_, PyAny>) -> PyResult<()> {
    if !r#fn.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "the log_metric fallback must be callable",
        ));
    }
    let old = FALLBACK
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(r#fn.clone().unbind());
    drop(old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use pyo3::types::{IntoPyDict, PyModule};

    use super::*;
    use crate::metrics::PyMetricLog;

    fn pending(log: &Bound<'_, PyAny>) -> usize {
        log.getattr("pending_points").unwrap().extract().unwrap()
    }

    #[test]
    fn fast_path_fallback_and_per_thread_cache() {
        let dir = std::env::temp_dir().join(format!("tracklite-fluent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fluent.wal");
        let _ = std::fs::remove_file(&path);
        let (to_thread, from_main) = mpsc::channel::<()>();
        let (to_main, from_thread) = mpsc::channel::<()>();
        let from_thread = std::sync::Mutex::new(from_thread);
        // Calls log_metric("t", 1.0) once per message.
        let other = std::thread::spawn(move || {
            while from_main.recv().is_ok() {
                Python::attach(|py| {
                    let (k, v) = (
                        "t".into_pyobject(py).unwrap(),
                        1.0f64.into_pyobject(py).unwrap(),
                    );
                    log_metric(py, &k, v.as_any(), None, None, None, None).unwrap();
                });
                to_main.send(()).unwrap();
            }
        });
        Python::attach(|py| {
            let m = PyModule::new(py, "_core").unwrap();
            m.add_class::<PyMetricLog>().unwrap();
            let log = m
                .getattr("MetricLog")
                .unwrap()
                .call(
                    (path.to_str().unwrap(),),
                    Some(&[("flush_interval_ms", 0)].into_py_dict(py).unwrap()),
                )
                .unwrap();
            let writer = log.call_method1("run_writer", ("r",)).unwrap();
            let calls = pyo3::types::PyList::empty(py);
            let record = py
                .eval(
                    c"lambda calls: lambda *a, **k: calls.append((a, k)) or 'fell back'",
                    None,
                    None,
                )
                .unwrap()
                .call1((&calls,))
                .unwrap();
            set_log_metric_fallback(&record).unwrap();
            let key = "loss".into_pyobject(py).unwrap();
            let value = 0.5f64.into_pyobject(py).unwrap();
            let step = 3i64.into_pyobject(py).unwrap();
            let call = |run_id: Option<&Bound<'_, PyAny>>| {
                log_metric(
                    py,
                    &key,
                    value.as_any(),
                    Some(step.as_any()),
                    None,
                    None,
                    run_id,
                )
                .unwrap()
            };

            set_active_writer(None);
            assert_eq!(call(None).extract::<String>(py).unwrap(), "fell back");
            set_active_writer(Some(writer.cast::<PyRunWriter>().unwrap().clone().unbind()));
            assert!(call(None).is_none(py));
            assert_eq!(pending(&log), 1);
            let run_id = "other".into_pyobject(py).unwrap();
            call(Some(run_id.as_any()));
            assert_eq!(pending(&log), 1);
            assert_eq!(calls.len(), 2);
            let last = calls.get_item(1).unwrap();
            assert_eq!(
                last.str().unwrap().to_str().unwrap(),
                "(('loss', 0.5), {'step': 3, 'timestamp': None, 'synchronous': None, 'run_id': 'other'})"
            );

            // Another thread caches the writer, then sees it cleared.
            let ask = || {
                to_thread.send(()).unwrap();
                py.detach(|| from_thread.lock().unwrap().recv().unwrap())
            };
            ask();
            assert_eq!(pending(&log), 2);
            set_active_writer(None);
            ask();
            assert_eq!(pending(&log), 2);
            assert_eq!(calls.len(), 3);
            log.call_method0("close").unwrap();
        });
        drop(to_thread);
        other.join().unwrap();
    }
}
