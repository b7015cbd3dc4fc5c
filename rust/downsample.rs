//! Series downsampling for plotting: MinMaxLTTB (plain Rust) and its `downsample` binding.
//!
//! MinMaxLTTB (Van Der Donckt et al., "MinMaxLTTB: Leveraging MinMax-Preselection to Scale
//! LTTB", 2023; the `tsdownsample` crate) picks the points of a series a chart needs:
//!
//! 1. The interior points `1..n-1` are split into `n_out - 2` buckets of equal point count
//!    (LTTB's buckets; `x` only enters the triangle areas, so gaps in time cost nothing).
//! 2. MinMax preselection: each bucket is split into [`MINMAX_RATIO`]` / 2` sub-buckets whose
//!    minimum and maximum are the bucket's candidates (about `n_out * MINMAX_RATIO` in all).
//!    This is the only pass over all `n` points, so the whole is O(n) with a small constant.
//! 3. LTTB over the candidates: per bucket, the candidate forming the largest triangle with the
//!    point kept in the bucket before and the mean of the next bucket's candidates.
//!
//! Choices beyond the paper, for a metric UI:
//!
//! * The first and last points are always kept, whatever their values.
//! * The global minimum and maximum of the finite points are always kept (for `n_out >= 4`):
//!   a bucket holding one keeps it instead of its LTTB pick. If both fall in the same bucket,
//!   the series is split into one bucket fewer and that bucket keeps both, so the budget holds.
//!   (With `n_out == 3` there is one interior slot; LTTB picks among the candidates.)
//! * Non-finite values never enter a triangle or a mean: a point is *finite* when both its `x`
//!   and `y` are. Instead each bucket also keeps its first NaN, first `+inf` and first `-inf`
//!   `y` (at most one of each kind), so a chart can draw the gaps and overflows the series has.
//!   A point with a finite `y` but a non-finite `x` cannot be placed and is dropped (unless it
//!   is the first or last point).
//! * `x` should be non-decreasing (steps, timestamps). Unsorted `x` still yields valid indices
//!   with the bounds below, only a less faithful picture.
//!
//! The result, for `n` points and `n > n_out >= 2`, is the sorted, unique indices of
//! the first and last point, at most `n_out - 2` finite picks and at most `3 * (n_out - 2)`
//! non-finite markers (one per kind and bucket): so at most `n_out` indices when `y` holds no
//! NaN or infinity, and at most `n_out + 3 * (n_out - 2)` in general. For `n <= n_out`
//! it is every index.

use std::borrow::Cow;

use pyo3::buffer::{ElementType, PyUntypedBuffer};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffers::element_type;
use crate::errors::{Error, Result};

/// Candidates per LTTB bucket picked by the MinMax preselection (a minimum and a maximum per
/// sub-bucket); 4 is the paper's recommended ratio.
pub const MINMAX_RATIO: usize = 4;

/// Sub-buckets per LTTB bucket.
const SUB_BUCKETS: usize = MINMAX_RATIO / 2;

/// Marker slots per bucket: NaN, `+inf`, `-inf`.
const KINDS: usize = 3;

fn n_out_error(n_out: impl std::fmt::Display) -> Error {
    Error::InvalidParameter(format!(
        "n_out must be at least 2 (the first and last points are always kept); got {n_out}"
    ))
}

/// The sorted indices of the points of `(x, y)` to draw with about `n_out` points (MinMaxLTTB;
/// see the module documentation for the choices and the exact bound on the length).
///
/// # Errors
/// [`Error::InvalidParameter`] if `x` and `y` differ in length or `n_out < 2`.
pub fn min_max_lttb(x: &[f64], y: &[f64], n_out: usize) -> Result<Vec<usize>> {
    if x.len() != y.len() {
        return Err(Error::InvalidParameter(format!(
            "x and y must have the same length; got {} and {}",
            x.len(),
            y.len()
        )));
    }
    if n_out < 2 {
        return Err(n_out_error(n_out));
    }
    let n = x.len();
    if n <= n_out {
        return Ok((0..n).collect());
    }
    // Here n > n_out >= 2: at least one interior point, and m > buckets.
    let m = n - 2;
    let mut buckets = n_out - 2;
    // With n_out <= 3 there is at most one interior slot: LTTB decides alone.
    let forced = if buckets >= 2 {
        forced_extremes(x, y)
    } else {
        Vec::new()
    };
    if let [a, b] = forced[..]
        && bucket_of(a, m, buckets) == bucket_of(b, m, buckets)
    {
        buckets -= 1; // That bucket keeps both; one bucket fewer keeps the budget.
    }
    Ok(lttb(x, y, &preselect(x, y, m, buckets), &forced))
}

/// The interior indices of the global minimum and maximum finite point (first occurrence),
/// sorted and distinct; the first and last points are kept anyway.
fn forced_extremes(x: &[f64], y: &[f64]) -> Vec<usize> {
    let all = Extremes::of(x, y, 0, x.len());
    let last = x.len() - 1;
    let mut out: Vec<usize> = [all.min, all.max]
        .into_iter()
        .flatten()
        .filter(|&i| i != 0 && i != last)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Independent accumulators of [`Extremes::of`]: short dependency chains the compiler can
/// keep in registers or vectorise.
const LANES: usize = 4;

/// The extremes of the finite points of a range.
struct Extremes {
    /// First index of the minimum finite `y` (`x` finite too).
    min: Option<usize>,
    /// First index of the maximum finite `y`.
    max: Option<usize>,
    /// Whether some point of the range has a non-finite `x` or `y`.
    any_nonfinite: bool,
}

impl Extremes {
    /// The extremes of `lo..hi`: the extreme values in a pass the compiler vectorises, then
    /// their first indices in a second pass over the same (now cached) points.
    fn of(x: &[f64], y: &[f64], lo: usize, hi: usize) -> Extremes {
        let (xs, ys) = (&x[lo..hi], &y[lo..hi]);
        // Non-finite points become +inf for the minimum and -inf for the maximum, which
        // strict comparisons never take.
        let finite = f64::is_finite;
        let mut vmin = [f64::INFINITY; LANES];
        let mut vmax = [f64::NEG_INFINITY; LANES];
        let mut bad = [false; LANES];
        let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
        let (xr, yr) = (xc.remainder(), yc.remainder());
        for (xc, yc) in xc.zip(yc) {
            for l in 0..LANES {
                let ok = finite(xc[l]) & finite(yc[l]);
                bad[l] |= !ok;
                let (for_min, for_max) = if ok {
                    (yc[l], yc[l])
                } else {
                    (f64::INFINITY, f64::NEG_INFINITY)
                };
                vmin[l] = if for_min < vmin[l] { for_min } else { vmin[l] };
                vmax[l] = if for_max > vmax[l] { for_max } else { vmax[l] };
            }
        }
        for (l, (&xi, &yi)) in xr.iter().zip(yr).enumerate() {
            let ok = finite(xi) & finite(yi);
            bad[l] |= !ok;
            if ok {
                vmin[l] = vmin[l].min(yi);
                vmax[l] = vmax[l].max(yi);
            }
        }
        let vmin = vmin.into_iter().fold(f64::INFINITY, f64::min);
        let vmax = vmax.into_iter().fold(f64::NEG_INFINITY, f64::max);
        let any_nonfinite = bad.contains(&true);
        if vmin == f64::INFINITY {
            return Extremes {
                min: None,
                max: None,
                any_nonfinite,
            };
        }
        // Both values occur at finite points; only finite points can equal a finite value
        // (a finite y with a non-finite x needs the check).
        let find = |v: f64| {
            let at = |i: usize| ys[i] == v && (!any_nonfinite || xs[i].is_finite());
            (0..ys.len()).find(|&i| at(i)).map(|i| lo + i)
        };
        Extremes {
            min: find(vmin),
            max: find(vmax),
            any_nonfinite,
        }
    }
}

/// First interior index of bucket `k` of `buckets` over the `m` interior points `1..=m`.
fn bucket_start(k: usize, m: usize, buckets: usize) -> usize {
    1 + (k as u128 * m as u128 / buckets as u128) as usize
}

/// The bucket of interior index `i` (the inverse of [`bucket_start`]).
fn bucket_of(i: usize, m: usize, buckets: usize) -> usize {
    (((i as u128) * buckets as u128 - 1) / m as u128) as usize
}

/// One LTTB bucket after preselection.
#[derive(Clone, Copy, Default)]
struct Bucket {
    start: usize,
    end: usize,
    /// Indices of the finite minima and maxima of the sub-buckets, increasing.
    candidates: [usize; MINMAX_RATIO],
    n_candidates: usize,
    /// The first NaN, `+inf` and `-inf` `y` of the bucket.
    markers: [Option<usize>; KINDS],
}

impl Bucket {
    fn candidates(&self) -> &[usize] {
        &self.candidates[..self.n_candidates]
    }
}

/// The one pass over all points: candidates and markers of every bucket.
fn preselect(x: &[f64], y: &[f64], m: usize, buckets: usize) -> Vec<Bucket> {
    (0..buckets)
        .map(|k| {
            let mut b = Bucket {
                start: bucket_start(k, m, buckets),
                end: bucket_start(k + 1, m, buckets),
                ..Bucket::default()
            };
            let len = b.end - b.start;
            for s in 0..SUB_BUCKETS {
                let lo = b.start + s * len / SUB_BUCKETS;
                let hi = b.start + (s + 1) * len / SUB_BUCKETS;
                let e = Extremes::of(x, y, lo, hi);
                if let (Some(imin), Some(imax)) = (e.min, e.max) {
                    let (first, second) = (imin.min(imax), imin.max(imax));
                    b.candidates[b.n_candidates] = first;
                    b.n_candidates += 1;
                    if second != first {
                        b.candidates[b.n_candidates] = second;
                        b.n_candidates += 1;
                    }
                }
                if e.any_nonfinite {
                    mark_nonfinite(&y[lo..hi], lo, &mut b.markers);
                }
            }
            b
        })
        .collect()
}

/// Records the first NaN, `+inf` and `-inf` of `ys` (starting at index `offset`) into the
/// empty slots of `markers`.
fn mark_nonfinite(ys: &[f64], offset: usize, markers: &mut [Option<usize>; KINDS]) {
    for (i, &v) in ys.iter().enumerate().filter(|(_, v)| !v.is_finite()) {
        let kind = if v.is_nan() {
            0
        } else if v > 0.0 {
            1
        } else {
            2
        };
        markers[kind].get_or_insert(offset + i);
    }
}

/// The mean point of a bucket's candidates (`None` without any), summed as `v / k` so huge
/// finite values do not overflow.
fn mean(x: &[f64], y: &[f64], b: &Bucket) -> Option<(f64, f64)> {
    let c = b.candidates();
    let k = c.len() as f64;
    (!c.is_empty()).then(|| {
        c.iter()
            .fold((0.0, 0.0), |(sx, sy), &i| (sx + x[i] / k, sy + y[i] / k))
    })
}

/// LTTB over the preselected buckets; `forced` (sorted) indices replace their bucket's pick.
fn lttb(x: &[f64], y: &[f64], buckets: &[Bucket], forced: &[usize]) -> Vec<usize> {
    let n = x.len();
    let point = |i: usize| (x[i].is_finite() && y[i].is_finite()).then(|| (x[i], y[i]));
    // The third corner for bucket k: the mean of the next bucket with candidates, else the
    // last point if finite, else `None` (then the bucket's own mean stands in).
    let means: Vec<Option<(f64, f64)>> = buckets.iter().map(|b| mean(x, y, b)).collect();
    let mut next = vec![None; buckets.len()];
    let mut acc = point(n - 1);
    for k in (0..buckets.len()).rev() {
        next[k] = acc;
        acc = means[k].or(acc);
    }

    let mut out = Vec::with_capacity(buckets.len() * 2 + 2);
    out.push(0);
    let mut prev = point(0);
    let mut forced = forced.iter().copied().peekable();
    for (k, b) in buckets.iter().enumerate() {
        let mut kept = [usize::MAX; 2 + KINDS];
        let mut n_kept = 0;
        while let Some(f) = forced.next_if(|&f| f < b.end) {
            kept[n_kept] = f;
            n_kept += 1;
        }
        if n_kept == 0 && b.n_candidates > 0 {
            let own = means[k];
            let (ax, ay) = prev.or(own).unwrap_or_default();
            let (cx, cy) = next[k].or(own).unwrap_or_default();
            let mut best = b.candidates[0];
            let mut best_area = f64::NEG_INFINITY;
            for &i in b.candidates() {
                // Twice the triangle's area; NaN (overflow of huge values) never wins.
                let area = ((ax - cx) * (y[i] - ay) - (ax - x[i]) * (cy - ay)).abs();
                if area > best_area {
                    (best, best_area) = (i, area);
                }
            }
            kept[0] = best;
            n_kept = 1;
        }
        if n_kept > 0 {
            prev = point(kept[n_kept - 1]);
        }
        for &i in b.markers.iter().flatten() {
            kept[n_kept] = i;
            n_kept += 1;
        }
        let kept = &mut kept[..n_kept];
        kept.sort_unstable();
        out.extend_from_slice(kept);
    }
    out.push(n - 1);
    out
}

/// A 1-d, C-contiguous float64 buffer as a slice: borrowed when aligned, else copied.
fn float64_column<'a>(buf: &'a PyUntypedBuffer, name: &str) -> Result<Cow<'a, [f64]>> {
    if element_type(buf) != Some(ElementType::Float { bytes: 8 }) || !buf.is_c_contiguous() {
        return Err(Error::InvalidParameter(format!(
            "{name} must be a one-dimensional contiguous float64 buffer; got format '{}', {} \
             dimension(s) (tracklite.series.downsample converts numpy arrays)",
            buf.format().to_string_lossy(),
            buf.dimensions()
        )));
    }
    let n = buf.item_count();
    let p = buf.buf_ptr().cast::<f64>().cast_const();
    if n == 0 {
        Ok(Cow::Borrowed(&[]))
    } else if p.is_aligned() {
        // SAFETY: checked above: a 1-d C-contiguous buffer of `n` native f64, aligned; the
        // export keeps the memory alive and fixed while `buf` lives, which outlives 'a.
        Ok(Cow::Borrowed(unsafe { std::slice::from_raw_parts(p, n) }))
    } else {
        // SAFETY: as above, except alignment: read item by item.
        Ok(Cow::Owned(
            (0..n)
                .map(|i| unsafe { p.add(i).read_unaligned() })
                .collect(),
        ))
    }
}

/// Indices of the points to draw of a series (MinMaxLTTB), as little-endian `uint64` bytes.
#[pyfunction]
#[pyo3(signature = (x, y, n_out))]
pub fn downsample<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    n_out: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let n_out = usize::try_from(n_out).map_err(|_| n_out_error(n_out))?;
    let (x_buf, y_buf) = (PyUntypedBuffer::get(x)?, PyUntypedBuffer::get(y)?);
    let (xs, ys) = (float64_column(&x_buf, "x")?, float64_column(&y_buf, "y")?);
    let bytes = py.detach(|| -> Result<Vec<u8>> {
        let indices = min_max_lttb(&xs, &ys, n_out)?;
        Ok(indices
            .into_iter()
            .flat_map(|i| (i as u64).to_le_bytes())
            .collect())
    })?;
    Ok(PyBytes::new(py, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(y: &[f64], n_out: usize) -> Vec<usize> {
        let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
        min_max_lttb(&x, y, n_out).unwrap()
    }

    /// A deterministic noisy series (xorshift), no external crates.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    fn check_shape(idx: &[usize], n: usize) {
        assert!(idx.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        if n > 0 {
            assert_eq!(idx[0], 0);
            assert_eq!(*idx.last().unwrap(), n - 1);
        }
    }

    #[test]
    fn downsample_small_n_returns_all() {
        for n in 0..10 {
            assert_eq!(run(&noise(n, 3), 10), (0..n).collect::<Vec<_>>());
        }
        assert_eq!(run(&[1.0, 2.0], 2), vec![0, 1]);
    }

    #[test]
    fn downsample_rejects_bad_arguments() {
        assert!(matches!(
            min_max_lttb(&[0.0, 1.0], &[0.0], 2),
            Err(Error::InvalidParameter(_))
        ));
        for n_out in [0, 1] {
            let err = min_max_lttb(&[0.0; 5], &[0.0; 5], n_out).unwrap_err();
            assert!(err.to_string().contains("at least 2"), "{err}");
        }
    }

    #[test]
    fn downsample_n_out_two_and_three() {
        let y = noise(1000, 5);
        assert_eq!(run(&y, 2), vec![0, 999]);
        let spikes = [0.0, 5.0, -5.0, 1.0, -1.0, 0.0];
        assert_eq!(run(&spikes, 2), vec![0, 5]);
        assert_eq!(run(&spikes, 3).len(), 3);
        assert_eq!(run(&spikes, 4), vec![0, 1, 2, 5]);
        let idx = run(&y, 3);
        assert_eq!(idx.len(), 3);
        check_shape(&idx, 1000);
    }

    #[test]
    fn downsample_shape_and_bound() {
        for (n, n_out) in [(10, 3), (11, 4), (100, 7), (1000, 50), (12345, 999), (7, 6)] {
            for seed in 1..20 {
                let y = noise(n, seed);
                let idx = run(&y, n_out);
                check_shape(&idx, n);
                assert!(idx.len() <= n_out, "{n} {n_out}: {}", idx.len());
                assert!(idx.len() >= n_out - 1);
            }
        }
    }

    #[test]
    fn downsample_keeps_global_extremes() {
        for seed in 1..200 {
            let n = 50 + (seed as usize * 37) % 500;
            let y = noise(n, seed);
            for n_out in [4, 5, 10, 33] {
                let idx = run(&y, n_out);
                let imax = (0..n).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
                let imin = (0..n).min_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
                assert!(idx.contains(&imax) && idx.contains(&imin), "{seed} {n_out}");
                assert!(idx.len() <= n_out);
            }
        }
    }

    #[test]
    fn downsample_extremes_in_one_bucket_keep_budget() {
        let mut y = vec![0.0; 1000];
        y[500] = 10.0;
        y[501] = -10.0;
        for n_out in [4, 5, 20, 100] {
            let idx = run(&y, n_out);
            assert!(idx.contains(&500) && idx.contains(&501));
            assert!(idx.len() <= n_out);
            check_shape(&idx, 1000);
        }
    }

    #[test]
    fn downsample_keeps_a_spike() {
        let mut y: Vec<f64> = noise(100_000, 9).iter().map(|v| v * 0.01).collect();
        y[31_337] = 5.0;
        y[77_001] = -5.0;
        for n_out in [3, 10, 100, 1000] {
            let idx = run(&y, n_out);
            assert!(idx.contains(&31_337), "{n_out}");
        }
    }

    #[test]
    fn downsample_constant_series() {
        let y = vec![2.5; 1000];
        let idx = run(&y, 100);
        assert_eq!(idx.len(), 100);
        check_shape(&idx, 1000);
    }

    #[test]
    fn downsample_nan_and_inf() {
        let n = 10_000;
        let mut y = noise(n, 11);
        for i in (100..200).chain(5000..5003) {
            y[i] = f64::NAN;
        }
        y[300] = f64::INFINITY;
        y[301] = f64::INFINITY;
        y[7000] = f64::NEG_INFINITY;
        let n_out = 50;
        let idx = run(&y, n_out);
        check_shape(&idx, n);
        let finite = idx.iter().filter(|&&i| y[i].is_finite()).count();
        assert!(finite <= n_out);
        assert!(idx.len() <= n_out + 3 * (n_out - 2));
        assert!(idx.contains(&100) && idx.contains(&5000) && idx.contains(&300));
        assert!(!idx.contains(&301), "one +inf per bucket");
        assert!(idx.contains(&7000));
        // One marker per kind and bucket: the 100 NaNs at 100..200 span at most 2 buckets.
        assert!(idx.iter().filter(|&&i| (100..200).contains(&i)).count() <= 2);
    }

    #[test]
    fn downsample_all_nan_and_nonfinite_ends() {
        let y = vec![f64::NAN; 1000];
        let idx = run(&y, 10);
        check_shape(&idx, 1000);
        assert_eq!(idx.len(), 2 + 8, "first, last, one NaN marker per bucket");

        let mut y = noise(1000, 4);
        y[0] = f64::NAN;
        y[999] = f64::NEG_INFINITY;
        let idx = run(&y, 10);
        check_shape(&idx, 1000);
        assert_eq!(idx.len(), 10);
    }

    #[test]
    fn downsample_nonfinite_x_is_not_a_candidate() {
        let x: Vec<f64> = (0..100)
            .map(|i| if i == 50 { f64::NAN } else { i as f64 })
            .collect();
        let mut y = vec![0.0; 100];
        y[50] = 100.0;
        let idx = min_max_lttb(&x, &y, 10).unwrap();
        check_shape(&idx, 100);
        assert!(!idx.contains(&50));
        assert!(idx.len() <= 10);
    }

    #[test]
    fn downsample_huge_values_do_not_break() {
        let y: Vec<f64> = (0..1000)
            .map(|i| if i % 2 == 0 { f64::MAX } else { -f64::MAX })
            .collect();
        let idx = run(&y, 20);
        check_shape(&idx, 1000);
        assert!(idx.len() <= 20);
    }

    #[test]
    fn downsample_bucket_of_inverts_bucket_start() {
        for (m, buckets) in [(1, 1), (5, 2), (10, 3), (1000, 7), (999, 998), (12, 12)] {
            for k in 0..buckets {
                for i in bucket_start(k, m, buckets)..bucket_start(k + 1, m, buckets) {
                    assert_eq!(bucket_of(i, m, buckets), k, "{m} {buckets} {i}");
                }
            }
            assert_eq!(bucket_start(buckets, m, buckets), m + 1);
        }
    }

    #[test]
    fn downsample_million_points() {
        let n = 1_000_000;
        let x: Vec<f64> = (0..n).map(|i| 1.7e12 + i as f64 * 1000.0).collect();
        let y = noise(n, 42);
        let start = std::time::Instant::now();
        let idx = min_max_lttb(&x, &y, 2000).unwrap();
        eprintln!("1M points -> {} in {:?}", idx.len(), start.elapsed());
        check_shape(&idx, n);
        assert!(idx.len() <= 2000);
    }
}
