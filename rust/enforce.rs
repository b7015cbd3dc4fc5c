//! Signature enforcement for column inputs, with MLflow's rules: which column dtype may feed
//! which schema type, and the widening conversions, run over the columns' buffers.
//!
//! Python hands over each column's NumPy (or Arrow) buffer as it is; nothing here looks at
//! a row from Python. [`column_action`] is the whole rule table; [`cast_columns`] converts
//! a frame's columns into freshly allocated buffers of the schema types, on every core.

use pyo3::buffer::{ElementType, PyUntypedBuffer};
use pyo3::prelude::*;

use crate::buffers::element_type;
use crate::errors::{Error, Result};

/// What to do with one input column for one schema column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The column already has the type (or is accepted unchanged, as objects for strings).
    Keep,
    /// A safe widening: convert to the schema type's NumPy dtype.
    Cast,
    /// An int64 column feeding a float/double: allowed only if every value is 0 or 1.
    CastIfZeroOne,
    /// Convert to `datetime64[ns]` (any datetime precision, or objects holding dates).
    ToDatetime,
    /// Not allowed: MLflow's "Can not safely convert".
    Reject,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Cast => "cast",
            Action::CastIfZeroOne => "cast_if_zero_one",
            Action::ToDatetime => "to_datetime",
            Action::Reject => "reject",
        }
    }
}

/// The NumPy dtype (kind, item size) each schema scalar type is enforced to.
pub fn target_dtype(target: &str) -> Result<(char, usize)> {
    Ok(match target {
        "boolean" => ('b', 1),
        "integer" => ('i', 4),
        "long" => ('i', 8),
        "float" => ('f', 4),
        "double" => ('f', 8),
        "string" => ('U', 0),
        "binary" => ('S', 0),
        "datetime" => ('M', 8),
        other => {
            return Err(Error::InvalidParameter(format!(
                "Unsupported type '{other}', expected one of boolean, integer, long, float, \
                 double, string, binary, datetime"
            )));
        }
    })
}

/// MLflow's rule for a column of NumPy dtype `kind`/`itemsize` (`pandas_string`: a pandas
/// string-dtype column) given to a schema column of type `target`.
pub fn column_action(
    kind: char,
    itemsize: usize,
    pandas_string: bool,
    target: &str,
) -> Result<Action> {
    let (t_kind, t_size) = target_dtype(target)?;
    let text_target = matches!(target, "string" | "binary");
    if text_target && pandas_string {
        return Ok(Action::Keep);
    }
    // A pandas string column has kind 'O' but is not an object column: only text targets take it.
    let object = kind == 'O' && !pandas_string;
    if target == "datetime" && (kind == 'M' || object) {
        // Any unit becomes nanoseconds (the item size does not tell units apart).
        return Ok(Action::ToDatetime);
    }
    // The schema type's NumPy dtype, or its pandas dtype (object, for string and binary).
    if (kind, itemsize) == (t_kind, t_size) || (text_target && object) {
        return Ok(Action::Keep);
    }
    if target == "binary" && kind == 'S' {
        return Ok(Action::Keep); // bytes of any length
    }
    if target == "boolean" && object {
        return Ok(Action::Keep); // converting would turn None into False
    }
    let widening = if kind == t_kind {
        itemsize <= t_size
    } else if kind == 'u' && t_kind == 'i' {
        itemsize < t_size
    } else if matches!(kind, 'i' | 'u') && target == "double" {
        itemsize <= 6
    } else {
        false
    };
    Ok(if widening && matches!(t_kind, 'i' | 'f' | 'b') {
        Action::Cast
    } else if (kind, itemsize) == ('i', 8) && matches!(target, "float" | "double") {
        Action::CastIfZeroOne
    } else {
        Action::Reject
    })
}

/// A value that converts to `D` by Rust's `as` (the widening casts the rules allow).
trait Widen<D> {
    fn widen(self) -> D;
}

macro_rules! widen_all {
    ($($src:ty),*) => {
        $(
            impl Widen<i32> for $src { #[inline] fn widen(self) -> i32 { self as i32 } }
            impl Widen<i64> for $src { #[inline] fn widen(self) -> i64 { self as i64 } }
            impl Widen<f32> for $src { #[inline] fn widen(self) -> f32 { self as f32 } }
            impl Widen<f64> for $src { #[inline] fn widen(self) -> f64 { self as f64 } }
        )*
    };
}
widen_all!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// A 1-d column: base pointer, stride in bytes, length.
struct Strided {
    ptr: *const u8,
    stride: isize,
    len: usize,
}

impl Strided {
    /// # Safety
    /// The column must hold `len` items of type `S` at `ptr + i * stride`.
    #[inline]
    unsafe fn get<S: Copy>(&self, i: usize) -> S {
        unsafe {
            self.ptr
                .offset(i as isize * self.stride)
                .cast::<S>()
                .read_unaligned()
        }
    }
}

/// Converts every item of `src` (type `S`) into `dst`; false if `zero_one` and an item is
/// neither 0 nor 1 (MLflow's int64-to-float exception), leaving `dst` partly written.
///
/// # Safety
/// `src` must hold items of type `S`; `dst` must have room for `src.len` items.
unsafe fn convert<S, D>(src: &Strided, dst: *mut D, zero_one: bool) -> bool
where
    S: Copy + Widen<D> + Widen<f64>,
{
    for i in 0..src.len {
        let v: S = unsafe { src.get(i) };
        if zero_one {
            let x: f64 = v.widen();
            if x != 0.0 && x != 1.0 {
                return false;
            }
        }
        unsafe { dst.add(i).write_unaligned(v.widen()) };
    }
    true
}

/// # Safety
/// As [`convert`].
unsafe fn convert_into<D>(
    src: &Strided,
    src_type: ElementType,
    dst: *mut D,
    zero_one: bool,
) -> Option<bool>
where
    i8: Widen<D>,
    i16: Widen<D>,
    i32: Widen<D>,
    i64: Widen<D>,
    u8: Widen<D>,
    u16: Widen<D>,
    u32: Widen<D>,
    u64: Widen<D>,
    f32: Widen<D>,
    f64: Widen<D>,
{
    use ElementType::{Float, SignedInteger, UnsignedInteger};
    Some(unsafe {
        match src_type {
            SignedInteger { bytes: 1 } => convert::<i8, D>(src, dst, zero_one),
            SignedInteger { bytes: 2 } => convert::<i16, D>(src, dst, zero_one),
            SignedInteger { bytes: 4 } => convert::<i32, D>(src, dst, zero_one),
            SignedInteger { bytes: 8 } => convert::<i64, D>(src, dst, zero_one),
            UnsignedInteger { bytes: 1 } => convert::<u8, D>(src, dst, zero_one),
            UnsignedInteger { bytes: 2 } => convert::<u16, D>(src, dst, zero_one),
            UnsignedInteger { bytes: 4 } => convert::<u32, D>(src, dst, zero_one),
            UnsignedInteger { bytes: 8 } => convert::<u64, D>(src, dst, zero_one),
            Float { bytes: 4 } => convert::<f32, D>(src, dst, zero_one),
            Float { bytes: 8 } => convert::<f64, D>(src, dst, zero_one),
            _ => return None,
        }
    })
}

fn column_text(buf: &PyUntypedBuffer) -> String {
    format!(
        "format '{}', {} dimension(s)",
        buf.format().to_string_lossy(),
        buf.dimensions()
    )
}

/// The rule for one column: `"keep"`, `"cast"`, `"cast_if_zero_one"`, `"to_datetime"` or
/// `"reject"` (see [`column_action`]).
#[pyfunction]
#[pyo3(signature = (kind, itemsize, pandas_string, target))]
pub fn enforce_action(
    kind: char,
    itemsize: usize,
    pandas_string: bool,
    target: &str,
) -> PyResult<&'static str> {
    Ok(column_action(kind, itemsize, pandas_string, target)?.name())
}

/// One conversion, checked and ready to run without the GIL.
struct Job {
    src: Strided,
    src_type: ElementType,
    dst: usize, // address of the destination's first item
    dst_type: ElementType,
    zero_one: bool,
}

/// Rows per piece of work: big enough to amortise scheduling, small enough to balance a few
/// columns over the cores.
const PIECE: usize = 1 << 18;

impl Job {
    fn check(src: &PyUntypedBuffer, dst: &PyUntypedBuffer, zero_one: bool) -> Result<Job> {
        let src_type = element_type(src)
            .filter(|t| !matches!(t, ElementType::Bool))
            .ok_or_else(|| {
                Error::InvalidParameter(format!("cannot cast a column of {}", column_text(src)))
            })?;
        let dst_type = element_type(dst)
            .filter(|t| {
                matches!(
                    t,
                    ElementType::SignedInteger { bytes: 4 | 8 }
                        | ElementType::Float { bytes: 4 | 8 }
                )
            })
            .filter(|_| !dst.readonly() && dst.is_c_contiguous())
            .ok_or_else(|| {
                Error::InvalidParameter(format!("cannot cast into {}", column_text(dst)))
            })?;
        let len = src.item_count();
        if dst.item_count() != len {
            return Err(Error::InvalidParameter(format!(
                "cast_columns: source has {len} items, destination {}",
                dst.item_count()
            )));
        }
        Ok(Job {
            src: Strided {
                ptr: src.buf_ptr().cast::<u8>().cast_const(),
                stride: src
                    .strides()
                    .first()
                    .copied()
                    .unwrap_or(src.item_size() as isize),
                len,
            },
            src_type,
            dst: dst.buf_ptr() as usize,
            dst_type,
            zero_one,
        })
    }

    /// Converts rows `start..end`; false if a zero/one check failed there.
    ///
    /// # Safety
    /// The job's buffers must still be exported, and `end <= src.len`.
    unsafe fn run(&self, start: usize, end: usize) -> bool {
        let src = Strided {
            ptr: unsafe { self.src.ptr.offset(start as isize * self.src.stride) },
            stride: self.src.stride,
            len: end - start,
        };
        let (t, z) = (self.src_type, self.zero_one);
        let out = self.dst as *mut u8;
        let done = unsafe {
            match self.dst_type {
                ElementType::SignedInteger { bytes: 4 } => {
                    convert_into::<i32>(&src, t, out.cast::<i32>().add(start), z)
                }
                ElementType::SignedInteger { bytes: 8 } => {
                    convert_into::<i64>(&src, t, out.cast::<i64>().add(start), z)
                }
                ElementType::Float { bytes: 4 } => {
                    convert_into::<f32>(&src, t, out.cast::<f32>().add(start), z)
                }
                _ => convert_into::<f64>(&src, t, out.cast::<f64>().add(start), z),
            }
        };
        done.unwrap_or(false)
    }
}

/// Runs every job, cut into pieces shared by up to `threads` threads; per job, whether it
/// passed its zero/one check.
fn run_jobs(jobs: &[Job], threads: usize) -> Vec<bool> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let pieces: Vec<(usize, usize, usize)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(j, job)| {
            (0..job.src.len)
                .step_by(PIECE)
                .map(move |s| (j, s, (s + PIECE).min(job.src.len)))
        })
        .collect();
    let ok: Vec<AtomicBool> = jobs.iter().map(|_| AtomicBool::new(true)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(j, start, end)) = pieces.get(i) else {
                break;
            };
            // SAFETY: the caller keeps every buffer exported until this returns; pieces
            // write disjoint ranges of the destinations.
            if !unsafe { jobs[j].run(start, end) } {
                ok[j].store(false, Ordering::Relaxed);
            }
        }
    };
    let threads = threads.clamp(1, pieces.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    ok.into_iter().map(AtomicBool::into_inner).collect()
}

/// Converts numeric columns into new buffers: each job is `(src, dst, zero_one)` with `src`
/// a 1-d numeric column (any stride) and `dst` a writable, contiguous int32/int64/float32/
/// float64 buffer of the same length. The loops run without the GIL, spread over the
/// machine's cores (conversions are bound by memory, and a DataFrame brings several).
///
/// Returns, per job, False if `zero_one` was asked and a value is neither 0 nor 1 (that
/// destination is then partly written).
#[pyfunction]
pub fn cast_columns(
    py: Python<'_>,
    jobs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>, bool)>,
) -> PyResult<Vec<bool>> {
    let mut buffers = Vec::with_capacity(jobs.len());
    for (src, dst, zero_one) in &jobs {
        buffers.push((
            PyUntypedBuffer::get(src)?,
            PyUntypedBuffer::get(dst)?,
            *zero_one,
        ));
    }
    let checked = buffers
        .iter()
        .map(|(src, dst, zero_one)| Job::check(src, dst, *zero_one))
        .collect::<Result<Vec<Job>>>()?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // The buffers stay exported (alive and fixed) until `buffers` drops, after this call.
    Ok(py.detach(move || run_jobs(&checked, threads)))
}

// `Strided` holds a raw pointer into a buffer the caller keeps exported; sharing it with the
// detached worker threads is sound for the duration of the call.
unsafe impl Send for Strided {}
unsafe impl Sync for Strided {}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(kind: char, size: usize, target: &str) -> Action {
        column_action(kind, size, false, target).unwrap()
    }

    #[test]
    fn rules_match_mlflow_matrix() {
        assert_eq!(act('b', 1, "boolean"), Action::Keep);
        assert_eq!(act('b', 1, "double"), Action::Reject);
        assert_eq!(act('i', 1, "integer"), Action::Cast);
        assert_eq!(act('i', 4, "integer"), Action::Keep);
        assert_eq!(act('i', 4, "long"), Action::Cast);
        assert_eq!(act('i', 4, "double"), Action::Cast);
        assert_eq!(act('i', 4, "float"), Action::Reject);
        assert_eq!(act('i', 8, "integer"), Action::Reject);
        assert_eq!(act('i', 8, "long"), Action::Keep);
        assert_eq!(act('i', 8, "double"), Action::CastIfZeroOne);
        assert_eq!(act('u', 4, "long"), Action::Cast);
        assert_eq!(act('u', 4, "double"), Action::Cast);
        assert_eq!(act('u', 4, "integer"), Action::Reject);
        assert_eq!(act('u', 8, "long"), Action::Reject);
        assert_eq!(act('f', 4, "float"), Action::Keep);
        assert_eq!(act('f', 4, "double"), Action::Cast);
        assert_eq!(act('f', 8, "float"), Action::Reject);
        assert_eq!(act('f', 8, "long"), Action::Reject);
        assert_eq!(act('O', 8, "string"), Action::Keep);
        assert_eq!(act('O', 8, "binary"), Action::Keep);
        assert_eq!(act('O', 8, "boolean"), Action::Keep);
        assert_eq!(act('O', 8, "double"), Action::Reject);
        assert_eq!(act('M', 8, "datetime"), Action::ToDatetime);
        assert_eq!(act('M', 8, "long"), Action::Reject);
        assert_eq!(act('S', 5, "binary"), Action::Keep);
        assert_eq!(column_action('O', 8, true, "string").unwrap(), Action::Keep);
        assert_eq!(
            column_action('O', 8, true, "boolean").unwrap(),
            Action::Reject
        );
        assert_eq!(
            column_action('O', 8, true, "datetime").unwrap(),
            Action::Reject
        );
        assert!(column_action('f', 8, false, "decimal").is_err());
    }

    #[test]
    fn converts_strided_and_checks_zero_one() {
        let src: [i64; 6] = [1, 99, 0, 99, 1, 99];
        let col = Strided {
            ptr: src.as_ptr().cast(),
            stride: 16,
            len: 3,
        };
        let mut out = [0f64; 3];
        assert!(unsafe { convert::<i64, f64>(&col, out.as_mut_ptr(), true) });
        assert_eq!(out, [1.0, 0.0, 1.0]);
        let all = Strided {
            ptr: src.as_ptr().cast(),
            stride: 8,
            len: 6,
        };
        let mut wide = [0f64; 6];
        assert!(!unsafe { convert::<i64, f64>(&all, wide.as_mut_ptr(), true) });
        let ints: [i32; 3] = [-5, 7, 2_000_000_000];
        let col = Strided {
            ptr: ints.as_ptr().cast(),
            stride: 4,
            len: 3,
        };
        let mut longs = [0i64; 3];
        assert!(unsafe { convert::<i32, i64>(&col, longs.as_mut_ptr(), false) });
        assert_eq!(longs, [-5, 7, 2_000_000_000]);
    }

    #[test]
    fn jobs_split_into_pieces_on_threads() {
        let n = 3 * PIECE + 17;
        let ints: Vec<i32> = (0..n as i32).collect();
        let flags: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
        let mut wide = vec![0i64; n];
        let mut floats = vec![0f64; n];
        let mut bad = vec![0f64; n];
        let job = |src: *const u8, stride: isize, src_type, dst: usize, dst_type, zero_one| Job {
            src: Strided {
                ptr: src,
                stride,
                len: n,
            },
            src_type,
            dst,
            dst_type,
            zero_one,
        };
        let i32_t = ElementType::SignedInteger { bytes: 4 };
        let i64_t = ElementType::SignedInteger { bytes: 8 };
        let f64_t = ElementType::Float { bytes: 8 };
        let jobs = [
            job(
                ints.as_ptr().cast(),
                4,
                i32_t,
                wide.as_mut_ptr() as usize,
                i64_t,
                false,
            ),
            job(
                flags.as_ptr().cast(),
                8,
                i64_t,
                floats.as_mut_ptr() as usize,
                f64_t,
                true,
            ),
            job(
                ints.as_ptr().cast(),
                4,
                i32_t,
                bad.as_mut_ptr() as usize,
                f64_t,
                true,
            ),
        ];
        assert_eq!(run_jobs(&jobs, 2), [true, true, false]);
        assert!(wide.iter().enumerate().all(|(i, &v)| v == i as i64));
        assert!(floats.iter().enumerate().all(|(i, &v)| v == (i % 2) as f64));
    }
}
