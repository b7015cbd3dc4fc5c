//! The metric log: points buffered in memory, drained into the append-only file of [`crate::wal`]
//! by a background thread, with run/key interning; and its Python classes.
//!
//! Engine (plain Rust, tested by `cargo test`): [`Interner`], [`Buffer`], [`LogCore`].
//! Bindings (thin): [`PyMetricLog`], [`PyRunWriter`], [`read_log`], [`validate_metric_key`].
//!
//! Locking: `LogCore::buf` guards everything the hot path touches (one uncontended lock per
//! `RunWriter.log` call); `LogCore::file` serialises appends. The flusher takes `file`, then
//! briefly `buf` to swap the point vector out, and encodes and writes without holding `buf`.
//! Holding `file` while draining `buf` keeps the file in logging order, and definitions are
//! drained together with (before) the points that use them.
//!
//! Rotation ([`LogCore::rotate`]) swaps the file under `file`: a point is either drained by the
//! last flush into the old file or still buffered and drained into the new one, never both.
//! Indexes are per log, not per file; every file starts with the definitions in use before it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::buffer::{ElementType, PyUntypedBuffer};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyString};

use crate::errors::{Error, InvalidParameterValue, Result};
use crate::names;
use crate::wal::{self, ColumnsMut, Frames, MAGIC, Point, Stamps, Steps};

// ----------------------------------------------------------------------------------------------
// Engine
// ----------------------------------------------------------------------------------------------

/// Wall clock in epoch milliseconds (MLflow's timestamp unit).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Dense `u32` indexes for strings, in first-seen order.
#[derive(Debug, Default)]
pub struct Interner {
    map: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub fn get(&self, name: &str) -> Option<u32> {
        self.map.get(name).copied()
    }

    /// The index of `name`, assigning the next one if it is new.
    pub fn insert(&mut self, name: &str) -> u32 {
        if let Some(i) = self.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).expect("more than 2^32 names");
        self.map.insert(name.to_owned(), i);
        self.names.push(name.to_owned());
        i
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// What logging threads share: buffered points, interners and a binding-specific cache `C`.
#[derive(Debug, Default)]
pub struct Buffer<C> {
    closed: bool,
    points: Vec<Point>,
    runs: Interner,
    keys: Interner,
    /// Definitions up to these counts are already in the file (or in the flusher's hands).
    runs_drained: usize,
    keys_drained: usize,
    /// A cache the binding layer keeps under the same lock (the Python key cache).
    pub cache: C,
}

impl<C> Buffer<C> {
    /// The index of metric `key`, validating it (MLflow rules) the first time it is seen.
    pub fn key_index(&mut self, key: &str) -> Result<u32> {
        if let Some(i) = self.keys.get(key) {
            return Ok(i);
        }
        names::validate_metric_key(key)?;
        Ok(self.keys.insert(key))
    }

    /// The index of run `run_id`, registering it the first time.
    pub fn run_index(&mut self, run_id: &str) -> u32 {
        self.runs.insert(run_id)
    }

    #[inline]
    pub fn push(&mut self, point: Point) {
        self.points.push(point);
    }

    pub fn pending(&self) -> usize {
        self.points.len()
    }

    pub fn keys(&self) -> &Interner {
        &self.keys
    }

    pub fn runs(&self) -> &Interner {
        &self.runs
    }
}

#[derive(Debug, Default)]
struct FileState {
    /// `None` once closed.
    file: Option<File>,
    /// Bytes in the file, all of them whole records.
    written: u64,
    /// Written but not yet `sync_data`-ed.
    dirty: bool,
    /// Encoded records not yet written (kept for a retry if a write fails).
    frames: Frames,
    /// The point vector swapped in and out of the buffer (keeps its allocation).
    spare: Vec<Point>,
}

/// Keep at most this much scratch memory between flushes.
const KEEP_SCRATCH_BYTES: usize = 64 << 20;

/// A metric log file being written: the engine behind `tracklite._core.MetricLog`.
#[derive(Debug)]
pub struct LogCore<C> {
    /// The current file's path (changed by `rotate` while it holds `file`).
    path: Mutex<PathBuf>,
    fsync: bool,
    interval: Duration,
    buf: Mutex<Buffer<C>>,
    file: Mutex<FileState>,
    written: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process that created the log; a forked child shares its file but not its thread.
    pid: u32,
}

impl<C: Default + Send + 'static> LogCore<C> {
    /// Creates the log file (which must not exist), locks it exclusively, writes the header and
    /// starts the flusher thread (none if `interval` is zero: then only `flush`/`close` write).
    ///
    /// # Errors
    /// `Io` (`AlreadyExists` if `path` exists, `WouldBlock` if locked by someone else).
    pub fn create(path: &Path, interval: Duration, fsync: bool) -> Result<Arc<Self>> {
        let file = create_file(path, MAGIC, fsync)?;
        let core = Arc::new(LogCore {
            path: Mutex::new(path.to_owned()),
            fsync,
            interval,
            buf: Mutex::new(Buffer::default()),
            file: Mutex::new(FileState {
                file: Some(file),
                written: wal::HEADER_LEN,
                ..Default::default()
            }),
            written: AtomicU64::new(wal::HEADER_LEN),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
            pid: std::process::id(),
        });
        if !interval.is_zero() {
            let worker = Arc::clone(&core);
            let handle = std::thread::Builder::new()
                .name("tracklite-metric-log".into())
                .spawn(move || worker.run_flusher())?;
            *lock(&core.thread) = Some(handle);
        }
        Ok(core)
    }

    fn run_flusher(&self) {
        let mut stopped = lock(&self.stop);
        while !*stopped {
            stopped = self
                .wake
                .wait_timeout(stopped, self.interval)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if *stopped {
                break;
            }
            drop(stopped);
            // A failed write keeps its records for the next attempt; sync() and close() report.
            let _ = self.flush(self.fsync);
            stopped = lock(&self.stop);
        }
    }

    /// The current file's path (the last `rotate`'s `new_path`, or the one it was created with).
    pub fn path(&self) -> PathBuf {
        lock(&self.path).clone()
    }

    pub fn fsync(&self) -> bool {
        self.fsync
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Bytes appended to the current file so far (always a record boundary).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Points buffered and not yet written.
    pub fn pending_points(&self) -> usize {
        lock(&self.buf).pending()
    }

    /// Whether this is a forked child's copy of the log (a `getpid` call: not for hot paths).
    pub fn in_forked_child(&self) -> bool {
        std::process::id() != self.pid
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.buf).closed
    }

    /// Locks the buffer, failing with [`Error::Closed`] after `close`.
    #[inline]
    pub fn lock_open(&self) -> Result<MutexGuard<'_, Buffer<C>>> {
        let b = lock(&self.buf);
        if b.closed { Err(Error::Closed) } else { Ok(b) }
    }

    /// The index of a run (registering it).
    pub fn run_index(&self, run_id: &str) -> Result<u32> {
        Ok(self.lock_open()?.run_index(run_id))
    }

    /// Writes everything buffered (and `sync_data` if `sync`); returns the written offset.
    pub fn flush(&self, sync: bool) -> Result<u64> {
        let mut fs = lock(&self.file);
        self.flush_locked(&mut fs, sync)
    }

    fn flush_locked(&self, fs: &mut FileState, sync: bool) -> Result<u64> {
        let FileState {
            file,
            written,
            dirty,
            frames,
            spare,
        } = fs;
        let Some(file) = file.as_mut() else {
            return Err(Error::Closed);
        };
        {
            let mut b = lock(&self.buf);
            for i in b.runs_drained..b.runs.len() {
                frames.run_def(i as u32, &b.runs.names()[i]);
            }
            for i in b.keys_drained..b.keys.len() {
                frames.key_def(i as u32, &b.keys.names()[i]);
            }
            b.runs_drained = b.runs.len();
            b.keys_drained = b.keys.len();
            std::mem::swap(&mut b.points, spare);
        }
        frames.points(spare);
        spare.clear();
        if spare.capacity() * size_of::<Point>() > KEEP_SCRATCH_BYTES {
            spare.shrink_to(1 << 16);
        }
        frames.seal();
        append(file, written, frames.bytes())?;
        *dirty |= !frames.is_empty();
        frames.clear();
        if frames.capacity() > KEEP_SCRATCH_BYTES {
            frames.shrink_to(1 << 20);
        }
        self.written.store(*written, Ordering::Release);
        if sync && *dirty {
            file.sync_data()?;
            *dirty = false;
        }
        Ok(*written)
    }

    /// Appends pre-encoded records (a series) after everything buffered so far.
    /// Does not `sync_data`: the flusher (or `sync`/`close`) does.
    pub fn append_frames(&self, frames: &mut Frames) -> Result<u64> {
        frames.seal();
        let mut fs = lock(&self.file);
        self.flush_locked(&mut fs, false)?;
        let FileState {
            file,
            written,
            dirty,
            ..
        } = &mut *fs;
        let file = file.as_mut().ok_or(Error::Closed)?;
        append(file, written, frames.bytes())?;
        *dirty |= !frames.is_empty();
        self.written.store(*written, Ordering::Release);
        Ok(*written)
    }

    /// Continues the log in a new file; returns the final length of the old one.
    ///
    /// Under the file lock: flushes everything buffered into the current file (syncing if
    /// `fsync`), creates and locks `new_path` like [`LogCore::create`], writes the header and the
    /// RUN and KEY definitions of every index written so far (same indexes: run writers and key
    /// caches stay valid and the new file reads on its own), syncs it if `fsync`, and makes it
    /// the file every later write goes to. Then unlocks and closes the old file, which ends on a
    /// record boundary. Definitions registered but not yet flushed go to the new file with the
    /// next flush, as usual.
    ///
    /// On failure the current file stays in use (with what the flush wrote) and a `new_path`
    /// this call created is removed.
    ///
    /// # Errors
    /// [`Error::Closed`] after `close` and in a forked child (the file belongs to the parent);
    /// `Io` (`AlreadyExists` if `new_path` exists).
    pub fn rotate(&self, new_path: &Path) -> Result<u64> {
        if self.in_forked_child() {
            return Err(Error::Closed);
        }
        let mut fs = lock(&self.file);
        if fs.file.is_none() || lock(&self.buf).closed {
            return Err(Error::Closed);
        }
        let old_len = self.flush_locked(&mut fs, self.fsync)?;
        // `*_drained` only change under `file` (held): every record in the old file uses indexes
        // below them, and the definitions of the rest are still to be drained.
        let mut head = Frames::new();
        {
            let b = lock(&self.buf);
            for (i, name) in b.runs.names()[..b.runs_drained].iter().enumerate() {
                head.run_def(i as u32, name);
            }
            for (i, name) in b.keys.names()[..b.keys_drained].iter().enumerate() {
                head.key_def(i as u32, name);
            }
        }
        head.seal();
        let mut bytes = Vec::with_capacity(MAGIC.len() + head.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(head.bytes());
        let file = create_file(new_path, &bytes, self.fsync)?;
        let old = fs.file.replace(file);
        fs.written = bytes.len() as u64;
        fs.dirty = !self.fsync;
        self.written.store(fs.written, Ordering::Release);
        *lock(&self.path) = new_path.to_owned();
        drop(fs);
        if let Some(old) = old {
            let _ = old.unlock();
        }
        Ok(old_len)
    }

    /// Stops the flusher, writes (and syncs) what is buffered, closes the file and releases its
    /// lock. Idempotent; returns the final length of the file.
    ///
    /// In a forked child this only marks its copy closed: the flusher thread does not exist there,
    /// and the file, its `flock` (shared across the fork) and the buffered points are the parent's.
    pub fn close(&self) -> Result<u64> {
        if self.in_forked_child() {
            match self.buf.try_lock() {
                Ok(mut b) => b.closed = true,
                Err(TryLockError::Poisoned(p)) => p.into_inner().closed = true,
                // Held by a parent thread at the fork: never released here.
                Err(TryLockError::WouldBlock) => {}
            }
            return Ok(self.written());
        }
        lock(&self.buf).closed = true;
        *lock(&self.stop) = true;
        self.wake.notify_all();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
        let mut fs = lock(&self.file);
        if fs.file.is_none() {
            return Ok(fs.written);
        }
        let result = self.flush_locked(&mut fs, self.fsync);
        if let Some(file) = fs.file.take() {
            let _ = file.unlock();
        }
        fs.frames = Frames::new();
        fs.spare = Vec::new();
        result
    }
}

/// Creates `path` (which must not exist), locks it exclusively without waiting and writes
/// `head`; with `sync`, makes its data and its directory entry durable. On failure after creating
/// the file, removes it.
fn create_file(path: &Path, head: &[u8], sync: bool) -> Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => io::Error::new(
                e.kind(),
                format!(
                    "{} already exists; a metric log is always started in a new file",
                    path.display()
                ),
            ),
            _ => e,
        })?;
    let init = |file: &mut File| -> io::Result<()> {
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("metric log {} is locked by another process", path.display()),
            ),
            std::fs::TryLockError::Error(e) => e,
        })?;
        file.write_all(head)?;
        if sync {
            file.sync_data()?;
            // Make the new directory entry durable too.
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    };
    if let Err(e) = init(&mut file) {
        let _ = file.unlock();
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(file)
}

/// Appends whole records; on failure truncates back so the file ends on a record boundary.
fn append(file: &mut File, written: &mut u64, bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    if let Err(e) = file.write_all(bytes) {
        let _ = file.set_len(*written);
        let _ = file.seek(SeekFrom::Start(*written));
        return Err(e);
    }
    *written += bytes.len() as u64;
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Bindings
// ----------------------------------------------------------------------------------------------

const CACHE_SLOTS: usize = 16;

/// Key indexes by `str` object address. Each slot holds a strong reference to its string so the
/// address cannot be reused by another object while cached. Only exact `str` objects are cached
/// (dropping one runs no Python code).
#[derive(Debug)]
pub struct KeyCache {
    addr: [usize; CACHE_SLOTS],
    index: [u32; CACHE_SLOTS],
    strong: [Option<Py<PyString>>; CACHE_SLOTS],
    next: usize,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            addr: [0; CACHE_SLOTS],
            index: [0; CACHE_SLOTS],
            strong: Default::default(),
            next: 0,
        }
    }
}

impl KeyCache {
    #[inline]
    fn get(&self, addr: usize) -> Option<u32> {
        self.addr
            .iter()
            .position(|&a| a == addr)
            .map(|i| self.index[i])
    }

    fn put(&mut self, key: &Bound<'_, PyString>, index: u32) {
        let slot = self.next;
        self.next = (slot + 1) % CACHE_SLOTS;
        self.addr[slot] = key.as_ptr() as usize;
        self.index[slot] = index;
        self.strong[slot] = Some(key.clone().unbind());
    }
}

type Core = LogCore<KeyCache>;

/// Shared by a `MetricLog` and its `RunWriter`s; the last one dropped closes the log.
#[derive(Debug)]
struct LogHandle(Arc<Core>);

impl Drop for LogHandle {
    fn drop(&mut self) {
        let _ = self.0.close();
    }
}

fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidParameterValue::new_err(msg.into())
}

fn show(obj: &Bound<'_, PyAny>) -> String {
    obj.str().map_or_else(
        |_| "<unprintable>".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// The key's validation error, if any (a non-`str` key is one).
fn key_problem(key: &Bound<'_, PyAny>) -> Option<PyErr> {
    let Ok(s) = key.cast::<PyString>() else {
        let repr = key
            .repr()
            .map_or_else(|_| "?".to_owned(), |r| r.to_string_lossy().into_owned());
        return Some(invalid(format!(
            "Invalid metric name: {repr}. Metric names must be strings."
        )));
    };
    match s.to_str() {
        Ok(k) => names::validate_metric_key(k)
            .err()
            .map(|e| invalid(e.to_string())),
        Err(e) => Some(e),
    }
}

fn intern_key(b: &mut Buffer<KeyCache>, key: &Bound<'_, PyAny>) -> PyResult<u32> {
    let Ok(s) = key.cast::<PyString>() else {
        return Err(key_problem(key).expect("non-str keys are invalid"));
    };
    let index = b.key_index(s.to_str()?)?;
    if s.is_exact_instance_of::<PyString>() {
        b.cache.put(s, index);
    }
    Ok(index)
}

#[inline]
fn lookup_key(b: &mut Buffer<KeyCache>, key: &Bound<'_, PyAny>) -> PyResult<u32> {
    match b.cache.get(key.as_ptr() as usize) {
        Some(i) => Ok(i),
        None => intern_key(b, key),
    }
}

fn is_numpy_bool(v: &Bound<'_, PyAny>) -> bool {
    let ty = v.get_type();
    let named_bool = ty
        .name()
        .is_ok_and(|n| matches!(n.to_str(), Ok("bool" | "bool_")));
    named_bool
        && ty
            .module()
            .is_ok_and(|m| m.to_str().is_ok_and(|m| m.starts_with("numpy")))
}

/// A metric value: `float` (fast path), `int`, or anything with `__float__`; not `bool`,
/// `numpy.bool_`, `str`, `bytes`.
#[inline]
fn as_value(v: &Bound<'_, PyAny>) -> Option<f64> {
    if let Ok(f) = v.cast_exact::<PyFloat>() {
        return Some(f.value());
    }
    as_value_slow(v)
}

fn as_value_slow(v: &Bound<'_, PyAny>) -> Option<f64> {
    if v.is_instance_of::<PyBool>() {
        return None;
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Some(f.value());
    }
    if v.is_instance_of::<PyInt>() {
        return v.extract::<f64>().ok();
    }
    if v.is_instance_of::<PyString>()
        || v.is_instance_of::<PyBytes>()
        || v.is_instance_of::<PyByteArray>()
    {
        return None;
    }
    if is_numpy_bool(v) {
        return None;
    }
    v.extract::<f64>().ok()
}

/// A step or timestamp: an `int` or anything with `__index__`; not `bool`.
#[inline]
fn as_int(v: &Bound<'_, PyAny>) -> Option<i64> {
    if v.is_exact_instance_of::<PyInt>() {
        return v.extract::<i64>().ok();
    }
    if v.is_instance_of::<PyBool>() || is_numpy_bool(v) {
        return None;
    }
    v.extract::<i64>().ok()
}

fn key_text(key: &Bound<'_, PyAny>) -> String {
    show(key)
}

fn value_error(key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, step: &str) -> PyErr {
    key_problem(key).unwrap_or_else(|| {
        invalid(format!(
            "Got invalid value {} for metric '{}' (step={step}). Please specify value as a valid \
             double (64-bit floating point)",
            show(value),
            key_text(key)
        ))
    })
}

fn step_error(key: &Bound<'_, PyAny>, step: &Bound<'_, PyAny>, timestamp: &str) -> PyErr {
    key_problem(key).unwrap_or_else(|| {
        invalid(format!(
            "Got invalid step {} for metric '{}' (timestamp={timestamp}). Please specify step as a \
             valid integer (64-bit).",
            show(step),
            key_text(key)
        ))
    })
}

fn timestamp_error(key: &Bound<'_, PyAny>, ts: &str, value: &str) -> PyErr {
    key_problem(key).unwrap_or_else(|| {
        invalid(format!(
            "Got invalid timestamp {ts} for metric '{}' (value={value}). Timestamp must be a \
             nonnegative long (64-bit integer)",
            key_text(key)
        ))
    })
}

/// A column of a series: borrowed from a Python buffer (no copy) or converted.
enum Column<T> {
    Borrowed(PyUntypedBuffer, usize),
    Owned(Vec<T>),
}

impl<T> Column<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            // SAFETY: checked at construction: C-contiguous, native format of T, aligned, `n`
            // items; the buffer export keeps the memory alive and fixed while we hold it.
            Column::Borrowed(buf, n) => unsafe {
                std::slice::from_raw_parts(buf.buf_ptr().cast::<T>(), *n)
            },
            Column::Owned(v) => v,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }
}

/// The element type of a 1-d, C-contiguous buffer in native byte order; `None` otherwise.
fn native_element(buf: &PyUntypedBuffer) -> Option<ElementType> {
    crate::buffers::element_type(buf).filter(|_| buf.is_c_contiguous())
}

/// Reads `n` items of type `S` (possibly unaligned) from a buffer and maps them.
///
/// # Safety
/// The buffer must hold `n` contiguous items of type `S`.
unsafe fn map_items<S: Copy, T>(
    buf: &PyUntypedBuffer,
    n: usize,
    f: impl Fn(S) -> Option<T>,
) -> Option<Vec<T>> {
    let p = buf.buf_ptr().cast::<S>().cast_const();
    (0..n)
        .map(|i| f(unsafe { p.add(i).read_unaligned() }))
        .collect()
}

fn is_aligned<T>(buf: &PyUntypedBuffer) -> bool {
    (buf.buf_ptr() as usize).is_multiple_of(align_of::<T>())
}

fn reject_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(invalid(format!(
            "{what} must be a sequence or array of numbers, not {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string())
        )));
    }
    Ok(())
}

/// Iterates `obj`, converting each item; `err(index, item)` builds the error for a bad item.
fn collect_items<T>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    conv: impl Fn(&Bound<'_, PyAny>) -> Option<T>,
    err: impl Fn(usize, &Bound<'_, PyAny>) -> PyErr,
) -> PyResult<Vec<T>> {
    let iter = obj.try_iter().map_err(|_| {
        invalid(format!(
            "{what} must be a sequence or array of numbers, not {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string())
        ))
    })?;
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        let item = item?;
        out.push(conv(&item).ok_or_else(|| err(i, &item))?);
        if i % (1 << 16) == (1 << 16) - 1 {
            obj.py().check_signals()?;
        }
    }
    Ok(out)
}

fn values_column(key: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>) -> PyResult<Column<f64>> {
    reject_text(obj, "values")?;
    if let Ok(buf) = PyUntypedBuffer::get(obj) {
        let n = buf.item_count();
        // SAFETY (map_items): `native_element` checked a 1-d C-contiguous buffer of that type.
        let converted = match native_element(&buf) {
            Some(ElementType::Float { bytes: 8 }) if is_aligned::<f64>(&buf) => {
                return Ok(Column::Borrowed(buf, n));
            }
            Some(ElementType::Float { bytes: 8 }) => unsafe {
                map_items(&buf, n, |x: f64| Some(x))
            },
            Some(ElementType::Float { bytes: 4 }) => unsafe {
                map_items(&buf, n, |x: f32| Some(f64::from(x)))
            },
            Some(ElementType::SignedInteger { bytes: 8 }) => unsafe {
                map_items(&buf, n, |x: i64| Some(x as f64))
            },
            Some(ElementType::SignedInteger { bytes: 4 }) => unsafe {
                map_items(&buf, n, |x: i32| Some(f64::from(x)))
            },
            Some(ElementType::SignedInteger { bytes: 2 }) => unsafe {
                map_items(&buf, n, |x: i16| Some(f64::from(x)))
            },
            Some(ElementType::SignedInteger { bytes: 1 }) => unsafe {
                map_items(&buf, n, |x: i8| Some(f64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 8 }) => unsafe {
                map_items(&buf, n, |x: u64| Some(x as f64))
            },
            Some(ElementType::UnsignedInteger { bytes: 4 }) => unsafe {
                map_items(&buf, n, |x: u32| Some(f64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 2 }) => unsafe {
                map_items(&buf, n, |x: u16| Some(f64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 1 }) => unsafe {
                map_items(&buf, n, |x: u8| Some(f64::from(x)))
            },
            _ => None,
        };
        if let Some(v) = converted {
            return Ok(Column::Owned(v));
        }
        if buf.dimensions() != 1 {
            return Err(invalid(format!(
                "values must be one-dimensional, got {} dimensions",
                buf.dimensions()
            )));
        }
    }
    // Lists, tuples, non-contiguous or exotic arrays: item by item, like `log`.
    collect_items(obj, "values", as_value, |i, item| {
        key_problem(key).unwrap_or_else(|| {
            invalid(format!(
                "Got invalid value {} for metric '{}' (index={i}). Please specify value as a valid \
                 double (64-bit floating point)",
                show(item),
                key_text(key)
            ))
        })
    })
    .map(Column::Owned)
}

fn ints_column(
    obj: &Bound<'_, PyAny>,
    what: &str,
    item_error: impl Fn(usize, &Bound<'_, PyAny>) -> PyErr,
) -> PyResult<Column<i64>> {
    reject_text(obj, what)?;
    if let Ok(buf) = PyUntypedBuffer::get(obj) {
        let n = buf.item_count();
        // SAFETY (map_items): `native_element` checked a 1-d C-contiguous buffer of that type.
        let converted = match native_element(&buf) {
            Some(ElementType::SignedInteger { bytes: 8 }) if is_aligned::<i64>(&buf) => {
                return Ok(Column::Borrowed(buf, n));
            }
            Some(ElementType::SignedInteger { bytes: 8 }) => unsafe {
                map_items(&buf, n, |x: i64| Some(x))
            },
            Some(ElementType::SignedInteger { bytes: 4 }) => unsafe {
                map_items(&buf, n, |x: i32| Some(i64::from(x)))
            },
            Some(ElementType::SignedInteger { bytes: 2 }) => unsafe {
                map_items(&buf, n, |x: i16| Some(i64::from(x)))
            },
            Some(ElementType::SignedInteger { bytes: 1 }) => unsafe {
                map_items(&buf, n, |x: i8| Some(i64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 8 }) => unsafe {
                map_items(&buf, n, |x: u64| i64::try_from(x).ok())
            },
            Some(ElementType::UnsignedInteger { bytes: 4 }) => unsafe {
                map_items(&buf, n, |x: u32| Some(i64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 2 }) => unsafe {
                map_items(&buf, n, |x: u16| Some(i64::from(x)))
            },
            Some(ElementType::UnsignedInteger { bytes: 1 }) => unsafe {
                map_items(&buf, n, |x: u8| Some(i64::from(x)))
            },
            _ => None,
        };
        if let Some(v) = converted {
            return Ok(Column::Owned(v));
        }
        if buf.dimensions() != 1 {
            return Err(invalid(format!(
                "{what} must be one-dimensional, got {} dimensions",
                buf.dimensions()
            )));
        }
    }
    collect_items(obj, what, as_int, item_error).map(Column::Owned)
}

/// An append-only, crash-safe metric log file written by a background thread.
///
/// Python: `tracklite._core.MetricLog`.
#[pyclass(name = "MetricLog", module = "tracklite._core", frozen)]
pub struct PyMetricLog {
    handle: Arc<LogHandle>,
}

#[pymethods]
impl PyMetricLog {
    #[new]
    #[pyo3(signature = (path, *, flush_interval_ms = 100, fsync = true))]
    fn new(py: Python<'_>, path: PathBuf, flush_interval_ms: u64, fsync: bool) -> PyResult<Self> {
        let interval = Duration::from_millis(flush_interval_ms);
        let core = py.detach(|| Core::create(&path, interval, fsync))?;
        Ok(PyMetricLog {
            handle: Arc::new(LogHandle(core)),
        })
    }

    /// A writer for `run_id` (registered in the log on first use).
    fn run_writer(&self, run_id: &str) -> PyResult<PyRunWriter> {
        let run = self.handle.0.run_index(run_id)?;
        Ok(PyRunWriter {
            handle: Arc::clone(&self.handle),
            run,
            run_id: run_id.to_owned(),
        })
    }

    /// Writes everything buffered now (and fsyncs if enabled); returns the durable end offset.
    /// After `close` it returns the final length of the file.
    fn sync(&self, py: Python<'_>) -> PyResult<u64> {
        let core = &self.handle.0;
        match py.detach(|| core.flush(core.fsync())) {
            Err(Error::Closed) => Ok(core.written()),
            result => Ok(result?),
        }
    }

    /// Continues the log in `new_path` (created like the constructor's file, starting with the
    /// definitions in use); returns the final length of the old file, which is unlocked and
    /// closed on return. See [`LogCore::rotate`].
    fn rotate(&self, py: Python<'_>, new_path: PathBuf) -> PyResult<u64> {
        let core = &self.handle.0;
        if core.in_forked_child() {
            return Err(PyValueError::new_err(format!(
                "cannot rotate metric log {} in a forked child process (pid {}): its file belongs \
                 to the parent (pid {}); create a new MetricLog in the child",
                core.path().display(),
                std::process::id(),
                core.pid
            )));
        }
        Ok(py.detach(|| core.rotate(&new_path))?)
    }

    /// Stops the flusher, syncs, closes the file and releases its lock. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let core = &self.handle.0;
        let result = py.detach(|| core.close());
        // Drop the cached key strings while attached (a forked child's copy may be locked forever).
        let cache = if core.in_forked_child() {
            KeyCache::default()
        } else {
            std::mem::take(&mut lock(&core.buf).cache)
        };
        drop(cache);
        result?;
        Ok(())
    }

    #[getter]
    fn path(&self) -> String {
        self.handle.0.path().to_string_lossy().into_owned()
    }

    #[getter]
    fn pending_points(&self) -> usize {
        self.handle.0.pending_points()
    }

    #[getter]
    fn written_offset(&self) -> u64 {
        self.handle.0.written()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.handle.0.is_closed()
    }

    #[getter]
    fn fsync(&self) -> bool {
        self.handle.0.fsync()
    }

    #[getter]
    fn flush_interval_ms(&self) -> u64 {
        self.handle.0.interval().as_millis() as u64
    }

    fn __repr__(&self) -> String {
        format!(
            "MetricLog(path={:?}, written_offset={}, pending_points={}, closed={})",
            self.path(),
            self.written_offset(),
            self.pending_points(),
            if self.closed() { "True" } else { "False" }
        )
    }
}

/// Logs metrics of one run into a `MetricLog`.
///
/// Python: `tracklite._core.RunWriter`.
#[pyclass(name = "RunWriter", module = "tracklite._core", frozen)]
pub struct PyRunWriter {
    handle: Arc<LogHandle>,
    run: u32,
    run_id: String,
}

impl PyRunWriter {
    /// `RunWriter.log`: validates and buffers one point. Shared with the fluent
    /// [`crate::fluent::log_metric`] fast path.
    #[inline]
    pub(crate) fn log_point(
        &self,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Some(value_f) = as_value(value) else {
            let step = step.map_or_else(|| "0".to_owned(), show);
            return Err(value_error(key, value, &step));
        };
        let step_i = match step {
            None => 0,
            Some(s) => match as_int(s) {
                Some(s) => s,
                None => {
                    let ts = timestamp.map_or_else(|| now_millis().to_string(), show);
                    return Err(step_error(key, s, &ts));
                }
            },
        };
        let ts_i = match timestamp {
            None => now_millis(),
            Some(t) => match as_int(t).filter(|t| *t >= 0) {
                Some(t) => t,
                None => return Err(timestamp_error(key, &show(t), &show(value))),
            },
        };
        let mut b = self.handle.0.lock_open()?;
        let key_i = lookup_key(&mut b, key)?;
        b.push(Point {
            run: self.run,
            key: key_i,
            step: step_i,
            timestamp: ts_i,
            value: value_f,
        });
        Ok(())
    }
}

#[pymethods]
impl PyRunWriter {
    /// Buffers one point (the hot path).
    #[pyo3(signature = (key, value, step = None, timestamp = None))]
    fn log(
        &self,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.log_point(key, value, step, timestamp)
    }

    /// Logs a whole series of one key; returns the number of points logged.
    #[pyo3(signature = (key, values, steps = None, timestamps = None))]
    fn log_series(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
        steps: Option<&Bound<'_, PyAny>>,
        timestamps: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let core = Arc::clone(&self.handle.0);
        let key_i = lookup_key(&mut *core.lock_open()?, key)?;
        let values = values_column(key, values)?;
        let steps = steps
            .map(|s| {
                ints_column(s, "steps", |i, item| {
                    key_problem(key).unwrap_or_else(|| {
                        invalid(format!(
                            "Got invalid step {} for metric '{}' (index={i}). Please specify step as a \
                             valid integer (64-bit).",
                            show(item),
                            key_text(key)
                        ))
                    })
                })
            })
            .transpose()?;
        let stamps = timestamps
            .map(|t| {
                ints_column(t, "timestamps", |i, item| {
                    timestamp_error(key, &show(item), &format!("index {i}"))
                })
            })
            .transpose()?;
        let n = values.len();
        let (n_steps, n_stamps) = (
            steps.as_ref().map_or(n, Column::len),
            stamps.as_ref().map_or(n, Column::len),
        );
        if n_steps != n || n_stamps != n {
            return Err(invalid(format!(
                "values, steps and timestamps of metric '{}' must have the same length; got {n} values, \
                 {n_steps} steps and {n_stamps} timestamps",
                key_text(key)
            )));
        }
        if let Some(stamps) = &stamps
            && let Some(i) = stamps.as_slice().iter().position(|&t| t < 0)
        {
            let v = values.as_slice()[i];
            return Err(timestamp_error(
                key,
                &stamps.as_slice()[i].to_string(),
                &format!("{v:?}"),
            ));
        }
        if n == 0 {
            return Ok(0);
        }
        // Copy out while attached (a memcpy); checksum and write detached.
        let mut frames = Frames::new();
        frames.series(
            self.run,
            key_i,
            steps
                .as_ref()
                .map_or(Steps::Arange(0), |s| Steps::Explicit(s.as_slice())),
            stamps.as_ref().map_or_else(
                || Stamps::Constant(now_millis()),
                |t| Stamps::Explicit(t.as_slice()),
            ),
            values.as_slice(),
        );
        drop((values, steps, stamps));
        py.detach(|| core.append_frames(&mut frames))?;
        Ok(n)
    }

    #[getter]
    fn run_id(&self) -> &str {
        &self.run_id
    }

    #[getter]
    fn run_index(&self) -> u32 {
        self.run
    }

    fn __repr__(&self) -> String {
        format!(
            "RunWriter(run_id={:?}, run_index={})",
            self.run_id, self.run
        )
    }
}

/// A new `bytes` object of `len` bytes whose contents the caller must fully write.
fn new_bytes_uninit(py: Python<'_>, len: usize) -> PyResult<(Bound<'_, PyBytes>, usize)> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new reference to a fresh, unshared
    // bytes object (or NULL with an exception set).
    unsafe {
        let ptr =
            pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as pyo3::ffi::Py_ssize_t);
        let obj = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let data = pyo3::ffi::PyBytes_AsString(obj.as_ptr()) as usize;
        Ok((obj, data))
    }
}

/// Reads a metric log from `offset`; see `_core.pyi` for the returned dict.
#[pyfunction]
#[pyo3(signature = (path, offset, max_points = 4194304))]
pub fn read_log<'py>(
    py: Python<'py>,
    path: PathBuf,
    offset: u64,
    max_points: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let plan = py.detach(|| wal::read_log(&path, offset, max_points))?;
    let n = plan.count;
    let (run, p_run) = new_bytes_uninit(py, 4 * n)?;
    let (key, p_key) = new_bytes_uninit(py, 4 * n)?;
    let (step, p_step) = new_bytes_uninit(py, 8 * n)?;
    let (timestamp, p_ts) = new_bytes_uninit(py, 8 * n)?;
    let (value, p_value) = new_bytes_uninit(py, 8 * n)?;
    py.detach(|| {
        // SAFETY: each address is the data of a bytes object created above with exactly this
        // length, kept alive by the caller's frame and not yet visible to any other code;
        // decode_into overwrites every byte.
        let col =
            |p: usize, len: usize| unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) };
        plan.decode_into(ColumnsMut {
            run: col(p_run, 4 * n),
            key: col(p_key, 4 * n),
            step: col(p_step, 8 * n),
            timestamp: col(p_ts, 8 * n),
            value: col(p_value, 8 * n),
        });
    });
    let out = PyDict::new(py);
    out.set_item("runs", &plan.runs)?;
    out.set_item("keys", &plan.keys)?;
    out.set_item("run", run)?;
    out.set_item("key", key)?;
    out.set_item("step", step)?;
    out.set_item("timestamp", timestamp)?;
    out.set_item("value", value)?;
    out.set_item("count", n)?;
    out.set_item("end_offset", plan.end_offset)?;
    out.set_item("at_end", plan.at_end)?;
    out.set_item("torn", plan.torn)?;
    Ok(out)
}

/// Raises `InvalidParameterValue` unless `key` is a valid MLflow metric name.
#[pyfunction]
pub fn validate_metric_key(key: &Bound<'_, PyAny>) -> PyResult<()> {
    key_problem(key).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tracklite-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    type TestCore = LogCore<()>;

    #[test]
    fn interning_is_stable() {
        let mut b = Buffer::<()>::default();
        assert_eq!(b.key_index("loss").unwrap(), 0);
        assert_eq!(b.key_index("acc").unwrap(), 1);
        assert_eq!(b.key_index("loss").unwrap(), 0);
        assert!(matches!(
            b.key_index("a//b"),
            Err(Error::InvalidParameter(_))
        ));
        assert_eq!(b.key_index("ünïcode").unwrap(), 2);
        assert_eq!(b.keys().names(), ["loss", "acc", "ünïcode"]);
        assert_eq!(b.run_index("r1"), 0);
        assert_eq!(b.run_index("r2"), 1);
        assert_eq!(b.run_index("r1"), 0);
    }

    #[test]
    fn buffered_points_and_series_round_trip() {
        let path = tmp("round_trip.wal");
        let core = TestCore::create(&path, Duration::ZERO, false).unwrap();
        assert!(
            matches!(TestCore::create(&path, Duration::ZERO, false), Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists)
        );
        let r = core.run_index("run-1").unwrap();
        {
            let mut b = core.lock_open().unwrap();
            let k = b.key_index("loss").unwrap();
            for i in 0..5 {
                b.push(Point {
                    run: r,
                    key: k,
                    step: i,
                    timestamp: 100 + i,
                    value: i as f64 / 2.0,
                });
            }
        }
        assert_eq!(core.pending_points(), 5);
        let k2 = core.lock_open().unwrap().key_index("acc").unwrap();
        let mut f = Frames::new();
        f.series(r, k2, Steps::Arange(0), Stamps::Constant(7), &[1.0, 2.0]);
        let end = core.append_frames(&mut f).unwrap();
        assert_eq!(core.pending_points(), 0);
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
        let plan = wal::read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.runs, ["run-1"]);
        assert_eq!(plan.keys, ["loss", "acc"]);
        let pts = plan.decode().points();
        assert_eq!(pts.len(), 7);
        assert_eq!(
            pts[4],
            Point {
                run: 0,
                key: 0,
                step: 4,
                timestamp: 104,
                value: 2.0
            }
        );
        assert_eq!(
            pts[6],
            Point {
                run: 0,
                key: 1,
                step: 1,
                timestamp: 7,
                value: 2.0
            }
        );
        assert_eq!(core.close().unwrap(), end);
        assert_eq!(core.close().unwrap(), end);
        assert!(matches!(core.lock_open(), Err(Error::Closed)));
        assert!(matches!(core.flush(true), Err(Error::Closed)));
    }

    #[test]
    fn lock_held_until_close() {
        let path = tmp("lock.wal");
        let core = TestCore::create(&path, Duration::from_millis(5), true).unwrap();
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err());
        core.close().unwrap();
        other.try_lock().unwrap();
    }

    #[test]
    fn background_thread_flushes() {
        let path = tmp("bg.wal");
        let core = TestCore::create(&path, Duration::from_millis(5), true).unwrap();
        let r = core.run_index("r").unwrap();
        {
            let mut b = core.lock_open().unwrap();
            let k = b.key_index("m").unwrap();
            b.push(Point {
                run: r,
                key: k,
                step: 1,
                timestamp: 2,
                value: 3.0,
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while core.pending_points() > 0 || core.written() == wal::HEADER_LEN {
            assert!(std::time::Instant::now() < deadline, "flusher did not run");
            std::thread::sleep(Duration::from_millis(2));
        }
        let plan = wal::read_log(&path, 0, 100).unwrap();
        assert_eq!(plan.count, 1);
        assert_eq!(plan.end_offset, core.written());
        core.close().unwrap();
    }

    fn push(core: &TestCore, run: u32, key: &str, step: i64) {
        let mut b = core.lock_open().unwrap();
        let key = b.key_index(key).unwrap();
        b.push(Point {
            run,
            key,
            step,
            timestamp: 10 * step,
            value: step as f64 / 4.0,
        });
    }

    /// A whole, self-contained log file: every index a point uses is defined in it.
    fn read_whole(path: &Path) -> wal::ReadPlan {
        let plan = wal::read_log(path, 0, usize::MAX).unwrap();
        assert!(plan.at_end && !plan.torn, "{}", path.display());
        assert_eq!(plan.end_offset, std::fs::metadata(path).unwrap().len());
        let pts = plan.decode().points();
        assert!(
            pts.iter()
                .all(|p| (p.run as usize) < plan.runs.len() && (p.key as usize) < plan.keys.len()),
            "{} uses an index it does not define",
            path.display()
        );
        plan
    }

    /// (run_id, key, step, timestamp, value bits) of every point, names from the file's own table.
    fn named(plan: &wal::ReadPlan) -> Vec<(String, String, i64, i64, u64)> {
        plan.decode()
            .points()
            .iter()
            .map(|p| {
                (
                    plan.runs[p.run as usize].clone(),
                    plan.keys[p.key as usize].clone(),
                    p.step,
                    p.timestamp,
                    p.value.to_bits(),
                )
            })
            .collect()
    }

    fn expect(
        run: &str,
        key: &str,
        steps: std::ops::Range<i64>,
    ) -> Vec<(String, String, i64, i64, u64)> {
        steps
            .map(|s| {
                (
                    run.to_owned(),
                    key.to_owned(),
                    s,
                    10 * s,
                    (s as f64 / 4.0).to_bits(),
                )
            })
            .collect()
    }

    fn is_locked(path: &Path) -> bool {
        File::open(path).unwrap().try_lock().is_err()
    }

    #[test]
    fn rotate_mid_stream_keeps_points_and_indexes() {
        let (a, b) = (tmp("rot_a.wal"), tmp("rot_b.wal"));
        let core = TestCore::create(&a, Duration::ZERO, true).unwrap();
        let r0 = core.run_index("run-0").unwrap();
        for i in 0..3 {
            push(&core, r0, "loss", i);
        }
        core.flush(false).unwrap();
        // Buffered (with a new key and a new run) at rotation: flushed into the old file.
        for i in 3..5 {
            push(&core, r0, "acc", i);
        }
        let r1 = core.run_index("run-1").unwrap();
        let old_len = core.rotate(&b).unwrap();
        assert_eq!(old_len, std::fs::metadata(&a).unwrap().len());
        assert!(!is_locked(&a), "the old file is unlocked");
        assert!(is_locked(&b));
        assert_eq!(core.path(), b);
        assert_eq!(core.pending_points(), 0);
        assert_eq!(core.written(), std::fs::metadata(&b).unwrap().len());
        // The new file starts with every definition, same indexes, and no points.
        let head = read_whole(&b);
        assert_eq!(head.runs, ["run-0", "run-1"]);
        assert_eq!(head.keys, ["loss", "acc"]);
        assert_eq!((head.count, head.end_offset), (0, core.written()));

        // After: known and new runs/keys, points and a series.
        for i in 5..8 {
            push(&core, r1, "loss", i);
        }
        let r2 = core.run_index("run-2").unwrap();
        push(&core, r2, "new/key", 8);
        let acc = core.lock_open().unwrap().key_index("acc").unwrap();
        let mut f = Frames::new();
        f.series(
            r0,
            acc,
            Steps::Explicit(&[9, 10]),
            Stamps::Explicit(&[90, 100]),
            &[9.0 / 4.0, 10.0 / 4.0],
        );
        core.append_frames(&mut f).unwrap();
        // A failed rotation leaves the current file in use.
        assert!(
            matches!(core.rotate(&a), Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists)
        );
        assert_eq!(core.path(), b);
        push(&core, r0, "loss", 11);
        let end = core.close().unwrap();
        assert!(matches!(
            core.rotate(&tmp("rot_never.wal")),
            Err(Error::Closed)
        ));
        assert!(!tmp("rot_never.wal").exists());

        let old = read_whole(&a);
        assert_eq!(old.end_offset, old_len);
        assert_eq!(old.runs, ["run-0", "run-1"]);
        assert_eq!(old.keys, ["loss", "acc"]);
        let mut want = expect("run-0", "loss", 0..3);
        want.extend(expect("run-0", "acc", 3..5));
        assert_eq!(named(&old), want);

        let new = read_whole(&b);
        assert_eq!(new.end_offset, end);
        assert_eq!(new.runs, ["run-0", "run-1", "run-2"]);
        assert_eq!(new.keys, ["loss", "acc", "new/key"]);
        let mut want = expect("run-1", "loss", 5..8);
        want.extend(expect("run-2", "new/key", 8..9));
        want.extend(expect("run-0", "acc", 9..11));
        want.extend(expect("run-0", "loss", 11..12));
        assert_eq!(named(&new), want);
        // Indexes are those of the writer, not renumbered.
        let pts = new.decode().points();
        assert_eq!((pts[0].run, pts[0].key), (r1, 0));
        assert_eq!((pts[3].run, pts[3].key), (r2, 2));
        assert_eq!((pts[4].run, pts[4].key), (r0, acc));
    }

    #[test]
    fn rotate_twice() {
        let paths = [tmp("rot2_0.wal"), tmp("rot2_1.wal"), tmp("rot2_2.wal")];
        let core = TestCore::create(&paths[0], Duration::ZERO, false).unwrap();
        let r = core.run_index("r").unwrap();
        push(&core, r, "a", 0);
        assert_eq!(
            core.rotate(&paths[1]).unwrap(),
            std::fs::metadata(&paths[0]).unwrap().len()
        );
        // A key registered between rotations, and a rotation right after another one.
        push(&core, r, "b", 1);
        let mid = core.rotate(&paths[2]).unwrap();
        assert_eq!(mid, std::fs::metadata(&paths[1]).unwrap().len());
        assert!(
            matches!(core.rotate(&paths[2]), Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists)
        );
        push(&core, r, "a", 2);
        core.close().unwrap();
        assert!(paths.iter().all(|p| !is_locked(p)));
        let plans: Vec<_> = paths.iter().map(|p| read_whole(p)).collect();
        assert_eq!(named(&plans[0]), expect("r", "a", 0..1));
        assert_eq!(named(&plans[1]), expect("r", "b", 1..2));
        assert_eq!(named(&plans[2]), expect("r", "a", 2..3));
        assert_eq!(plans[1].keys, ["a", "b"]);
        assert_eq!(plans[2].keys, ["a", "b"]);
        assert!(plans.iter().all(|p| p.runs == ["r"]));
    }

    #[test]
    fn rotate_while_logging_loses_and_duplicates_nothing() {
        const THREADS: u32 = 4;
        const ROTATIONS: usize = 40;
        let paths: Vec<PathBuf> = (0..=ROTATIONS)
            .map(|i| tmp(&format!("rot_c{i}.wal")))
            .collect();
        let core = TestCore::create(&paths[0], Duration::from_millis(1), false).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let logged: Vec<i64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (core, stop) = (&core, &stop);
                    s.spawn(move || {
                        let r = core.run_index(&format!("run{t}")).unwrap();
                        let mut i = 0i64;
                        while !stop.load(Ordering::Relaxed) || i < 20_000 {
                            if i % 997 == 0 {
                                // A series of 3 (steps i..i+3) through append_frames.
                                let k = core.lock_open().unwrap().key_index("series").unwrap();
                                let mut f = Frames::new();
                                f.series(r, k, Steps::Arange(i), Stamps::Constant(0), &[0.5; 3]);
                                core.append_frames(&mut f).unwrap();
                                i += 3;
                            } else {
                                let mut b = core.lock_open().unwrap();
                                let k = b.key_index(&format!("k{}", i % 5)).unwrap();
                                b.push(Point {
                                    run: r,
                                    key: k,
                                    step: i,
                                    timestamp: 0,
                                    value: 0.5,
                                });
                                i += 1;
                            }
                        }
                        i
                    })
                })
                .collect();
            for (j, path) in paths[1..].iter().enumerate() {
                std::thread::sleep(Duration::from_micros(300));
                let old_len = core.rotate(path).unwrap();
                assert_eq!(old_len, std::fs::metadata(&paths[j]).unwrap().len());
            }
            stop.store(true, Ordering::Relaxed);
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        core.close().unwrap();
        let mut steps: HashMap<String, Vec<i64>> = HashMap::new();
        let mut prev: Option<wal::ReadPlan> = None;
        let mut files_with_points = 0;
        for path in &paths {
            assert!(!is_locked(path));
            let plan = read_whole(path);
            // Same indexes in every file: each file's tables extend the previous one's.
            if let Some(prev) = &prev {
                assert!(plan.runs.starts_with(&prev.runs) && plan.keys.starts_with(&prev.keys));
            }
            files_with_points += usize::from(plan.count > 0);
            for (run, _, step, _, _) in named(&plan) {
                steps.entry(run).or_default().push(step);
            }
            prev = Some(plan);
        }
        // Rotations really happened mid-stream.
        assert!(
            files_with_points > ROTATIONS / 2,
            "{files_with_points} files with points"
        );
        for t in 0..THREADS {
            // In order, each step exactly once, across all files.
            let want: Vec<i64> = (0..logged[t as usize]).collect();
            assert_eq!(steps[&format!("run{t}")], want, "run{t}");
        }
    }

    #[test]
    fn concurrent_writers_keep_every_point() {
        let path = tmp("threads.wal");
        let core = TestCore::create(&path, Duration::from_millis(1), false).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let core = &core;
                s.spawn(move || {
                    let r = core.run_index(&format!("run{t}")).unwrap();
                    for i in 0..20_000 {
                        let mut b = core.lock_open().unwrap();
                        let k = b.key_index(&format!("k{}", i % 7)).unwrap();
                        b.push(Point {
                            run: r,
                            key: k,
                            step: i,
                            timestamp: 0,
                            value: 0.0,
                        });
                    }
                });
            }
        });
        let end = core.close().unwrap();
        let plan = wal::read_log(&path, 0, usize::MAX).unwrap();
        assert_eq!(plan.count, 80_000);
        assert_eq!(plan.end_offset, end);
        assert!(plan.at_end && !plan.torn);
        let pts = plan.decode().points();
        for r in 0..4 {
            let steps: Vec<i64> = pts.iter().filter(|p| p.run == r).map(|p| p.step).collect();
            assert_eq!(steps, (0..20_000).collect::<Vec<_>>());
        }
    }
}
