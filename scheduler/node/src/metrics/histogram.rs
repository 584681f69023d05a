//! A Prometheus-style histogram of durations with fixed buckets from 10 µs to 1 s.

use serde::{Deserialize, Serialize};

/// Upper bounds in seconds (the `le` labels), then `+Inf`.
pub const BOUNDS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Observation counts per bucket (not cumulative; the last one is `+Inf`), their sum and count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BOUNDS.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        let i = BOUNDS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BOUNDS.len());
        self.fit();
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// Adds another histogram's observations.
    pub fn merge(&mut self, other: &Histogram) {
        self.fit();
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// A histogram read from an older file with other bounds starts over (counters may reset).
    fn fit(&mut self) {
        if self.buckets.len() != BOUNDS.len() + 1 {
            *self = Histogram::default();
        }
    }

    /// `(le, cumulative count)` per bound; `None` is `+Inf`.
    pub fn cumulative(&self) -> Vec<(Option<f64>, u64)> {
        let mut acc = 0;
        let mut out = Vec::with_capacity(BOUNDS.len() + 1);
        for (i, n) in self.buckets.iter().enumerate() {
            acc += n;
            out.push((BOUNDS.get(i).copied(), acc));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inf_holds_everything() {
        let mut h = Histogram::default();
        h.observe(0.000_005);
        h.observe(0.000_01);
        h.observe(0.003);
        h.observe(5.0);
        let c = h.cumulative();
        assert_eq!(c.len(), BOUNDS.len() + 1);
        assert_eq!(c[0], (Some(0.000_01), 2));
        assert_eq!(c.iter().find(|(le, _)| *le == Some(0.005)).unwrap().1, 3);
        assert_eq!(c.last().unwrap(), &(None, 4));
        assert_eq!(h.count, 4);
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.count, 8);
        assert_eq!(m.cumulative().last().unwrap().1, 8);
    }

    #[test]
    fn other_bounds_start_over() {
        let mut h = Histogram {
            buckets: vec![1, 2],
            sum: 1.0,
            count: 3,
        };
        h.observe(0.5);
        assert_eq!(h.count, 1);
    }
}
