//! `tracklite._core`: the Rust core of tracklite (module registration only).
//!
//! * [`wal`]: the append-only metric log file format and its reader (plain Rust).
//! * [`metrics`]: the buffered, thread-safe metric log engine and its Python classes.
//! * [`fluent`]: the native `tracklite.log_metric` and its active-writer cell.
//! * [`names`]: MLflow's metric-name rules.
//! * [`enforce`]: model signature enforcement over column buffers.
//! * [`downsample`]: MinMaxLTTB series downsampling for charts.
//! * [`buffers`]: reading Python buffers as typed columns.
//! * [`errors`]: the crate's error type and its mapping to `tracklite.errors`.

use pyo3::prelude::*;

pub mod buffers;
pub mod downsample;
pub mod enforce;
pub mod errors;
pub mod fluent;
pub mod metrics;
pub mod names;
pub mod wal;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("WAL_MAGIC", pyo3::types::PyBytes::new(m.py(), wal::MAGIC))?;
    m.add_class::<metrics::PyMetricLog>()?;
    m.add_class::<metrics::PyRunWriter>()?;
    m.add_function(wrap_pyfunction!(metrics::read_log, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::validate_metric_key, m)?)?;
    m.add_function(wrap_pyfunction!(fluent::log_metric, m)?)?;
    m.add_function(wrap_pyfunction!(fluent::set_active_writer, m)?)?;
    m.add_function(wrap_pyfunction!(fluent::set_log_metric_fallback, m)?)?;
    m.add_function(wrap_pyfunction!(enforce::enforce_action, m)?)?;
    m.add_function(wrap_pyfunction!(enforce::cast_columns, m)?)?;
    m.add_function(wrap_pyfunction!(downsample::downsample, m)?)?;
    Ok(())
}
