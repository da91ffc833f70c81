//! Min, median and max of a figure measured over several runs; the runs themselves,
//! interleaved by size.

use std::future::Future;

use serde::Serialize;

/// One figure over several runs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, or `None` when there are none (a benchmark that did not run).
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.len() != values.len() || sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        Some(Spread {
            min: sorted[0],
            median,
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Runs `once` for every size, then again, `runs` times (so that a slow spell of the
/// shared machine spreads over the sizes): the results by size, in `sizes`' order.
pub async fn interleaved<T, F, Fut>(
    sizes: &[usize],
    runs: usize,
    mut once: F,
) -> anyhow::Result<Vec<Vec<T>>>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut by_size: Vec<Vec<T>> = sizes.iter().map(|_| Vec::with_capacity(runs)).collect();
    for run in 1..=runs {
        for (i, &size) in sizes.iter().enumerate() {
            by_size[i].push(once(run, size).await?);
        }
    }
    Ok(by_size)
}

/// The `p`-th percentile (0 to 100) of `values` by nearest rank, or `None` when there are none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() != values.len() || sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::{Spread, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn odd_and_even_counts_have_the_usual_median() {
        let odd = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.min, odd.median, odd.max), (1.0, 2.0, 3.0));
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((even.min, even.median, even.max), (1.0, 2.5, 4.0));
        let one = Spread::of(&[7.0]).unwrap();
        assert_eq!((one.min, one.median, one.max), (7.0, 7.0, 7.0));
    }

    #[test]
    fn no_values_or_a_non_finite_one_give_no_spread() {
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[1.0, f64::NAN]).is_none());
    }
}
