//! Idle seat weights per pool in a Fenwick (binary indexed) tree, so the weighted-random
//! strategy draws a seat in O(log seats) instead of scanning the idle seats twice.

/// Sums of non-negative weights over seat indices, with prefix search.
#[derive(Debug, Clone, Default)]
pub(crate) struct Weights {
    /// 1-based Fenwick array: `tree[i]` holds the sum of the `i & -i` weights ending at `i`.
    tree: Vec<u64>,
    total: u64,
}

impl Weights {
    /// Room for seat indices `0..n`, all weights 0.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            tree: vec![0; n + 1],
            total: 0,
        }
    }

    /// The sum of all weights.
    pub(crate) const fn total(&self) -> u64 {
        self.total
    }

    /// Adds `w` to seat `idx`.
    pub(crate) fn add(&mut self, idx: u32, w: u64) {
        self.total += w;
        let mut i = idx as usize + 1;
        while i < self.tree.len() {
            self.tree[i] += w;
            i += i & i.wrapping_neg();
        }
    }

    /// Takes `w` from seat `idx` (which must hold at least `w`).
    pub(crate) fn sub(&mut self, idx: u32, w: u64) {
        self.total -= w;
        let mut i = idx as usize + 1;
        while i < self.tree.len() {
            self.tree[i] -= w;
            i += i & i.wrapping_neg();
        }
    }

    /// The seat whose weight interval holds `r` (`r < total`): the smallest `idx` with
    /// prefix sum through `idx` greater than `r`.
    pub(crate) fn find(&self, mut r: u64) -> Option<u32> {
        if r >= self.total {
            return None;
        }
        let n = self.tree.len() - 1;
        let mut pos = 0usize;
        let mut step = n.checked_ilog2().map_or(0, |b| 1usize << b);
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= r {
                pos = next;
                r -= self.tree[next];
            }
            step >>= 1;
        }
        // `pos` is the count of seats whose prefix sum is ≤ r; the next seat holds r.
        u32::try_from(pos).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Weights;
    use proptest::prelude::*;

    proptest! {
        /// `find` agrees with a linear walk over the weights for every draw.
        #[test]
        fn find_matches_linear_walk(ws in proptest::collection::vec(0u64..5, 1..60)) {
            let mut t = Weights::new(ws.len());
            for (i, &w) in ws.iter().enumerate() {
                t.add(i as u32, w);
            }
            let total: u64 = ws.iter().sum();
            prop_assert_eq!(t.total(), total);
            for r in 0..total {
                let mut acc = 0;
                let want = ws.iter().position(|&w| { acc += w; acc > r }).map(|i| i as u32);
                prop_assert_eq!(t.find(r), want);
            }
            prop_assert_eq!(t.find(total), None);
            for (i, &w) in ws.iter().enumerate() {
                t.sub(i as u32, w);
            }
            prop_assert_eq!(t.total(), 0);
        }
    }
}
