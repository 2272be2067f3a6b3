//! A thread's share of `-n REQUESTS`: connections claim requests from it before sending, so
//! exactly that many are attempted. Without `-n` it never runs out.

use std::cell::Cell;

/// Requests a thread may still start.
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
}

impl Budget {
    /// `Some(n)`: n requests; `None`: unlimited.
    pub fn new(limit: Option<u64>) -> Budget {
        Budget {
            left: Cell::new(limit.unwrap_or(u64::MAX)),
        }
    }

    /// Takes up to `want` requests and returns how many were granted.
    pub fn claim(&self, want: usize) -> usize {
        let left = self.left.get();
        if left == u64::MAX {
            return want;
        }
        let got = left.min(want as u64);
        self.left.set(left - got);
        got as usize
    }

    /// Nothing more may be started.
    pub fn exhausted(&self) -> bool {
        self.left.get() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_budget_runs_out() {
        let b = Budget::new(Some(5));
        assert_eq!(b.claim(3), 3);
        assert!(!b.exhausted());
        assert_eq!(b.claim(3), 2);
        assert!(b.exhausted());
        assert_eq!(b.claim(1), 0);
    }

    #[test]
    fn unlimited_budget_never_does() {
        let b = Budget::new(None);
        for _ in 0..1000 {
            assert_eq!(b.claim(16), 16);
        }
        assert!(!b.exhausted());
    }
}
