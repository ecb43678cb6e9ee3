//! The entry of every Dijkstra queue in the route layer (the table's one-to-many searches and
//! the overlay's cell-local and multi-level searches): `BinaryHeap` is a max-heap, so the order
//! is reversed to pop the smallest distance first, ties broken by id for a deterministic order.

use std::cmp::Ordering;

#[derive(Clone, Copy, Debug)]
pub struct MinQueued<I> {
    pub dist: f64,
    pub id: I,
}

impl<I: Ord> PartialEq for MinQueued<I> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl<I: Ord> Eq for MinQueued<I> {}

impl<I: Ord> PartialOrd for MinQueued<I> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl<I: Ord> Ord for MinQueued<I> {
    fn cmp(&self, o: &Self) -> Ordering {
        o.dist
            .total_cmp(&self.dist)
            .then_with(|| o.id.cmp(&self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::MinQueued;
    use std::collections::BinaryHeap;

    #[test]
    fn the_smallest_distance_comes_out_first_ties_by_id() {
        let mut heap = BinaryHeap::new();
        for (dist, id) in [(3.0, 1u32), (1.0, 9), (2.0, 4), (1.0, 2)] {
            heap.push(MinQueued { dist, id });
        }
        let order: Vec<(f64, u32)> = std::iter::from_fn(|| heap.pop())
            .map(|q| (q.dist, q.id))
            .collect();
        assert_eq!(order, vec![(1.0, 2), (1.0, 9), (2.0, 4), (3.0, 1)]);
    }
}
