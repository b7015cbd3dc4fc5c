//! The crate's one error type and its conversion to Python exceptions at the boundary.

use pyo3::PyErr;
use pyo3::exceptions::PyValueError;

pyo3::import_exception!(tracklite.errors, InvalidParameterValue);
pyo3::import_exception!(tracklite.errors, StoreCorruptError);

/// Every failure of the engine code.
#[derive(Debug)]
pub enum Error {
    /// Operating-system error (maps to the matching `OSError` subclass).
    Io(std::io::Error),
    /// A malformed argument (maps to `tracklite.errors.InvalidParameterValue`).
    InvalidParameter(String),
    /// An unreadable log file (maps to `tracklite.errors.StoreCorruptError`).
    Corrupt(String),
    /// The metric log was closed (maps to `ValueError`).
    Closed,
}

/// Shorthand for results of engine code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => e.fmt(f),
            Error::InvalidParameter(msg) | Error::Corrupt(msg) => f.write_str(msg),
            Error::Closed => f.write_str("metric log is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::names::KeyError> for Error {
    fn from(e: crate::names::KeyError) -> Self {
        Error::InvalidParameter(e.to_string())
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Io(e) => e.into(),
            Error::InvalidParameter(msg) => InvalidParameterValue::new_err(msg),
            Error::Corrupt(msg) => StoreCorruptError::new_err(msg),
            Error::Closed => PyValueError::new_err("metric log is closed"),
        }
    }
}
