//! A binary max-heap whose order is given by a comparator that may look at outside state (the
//! token byte table), which `std::collections::BinaryHeap` cannot do without storing the bytes in
//! every entry.

/// `better(x, y)` must be a strict total order on the entries that can be in the heap at once
/// (ties only between equal entries).
pub(crate) struct Heap<T> {
    items: Vec<T>,
}

impl<T: Copy> Heap<T> {
    /// Builds a heap from `items` in O(n).
    pub(crate) fn from_vec(items: Vec<T>, better: &impl Fn(&T, &T) -> bool) -> Self {
        let mut heap = Heap { items };
        let n = heap.items.len();
        for i in (0..n / 2).rev() {
            heap.sift_down(i, better);
        }
        heap
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn push(&mut self, item: T, better: &impl Fn(&T, &T) -> bool) {
        self.items.push(item);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if better(&self.items[i], &self.items[parent]) {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    pub(crate) fn pop(&mut self, better: &impl Fn(&T, &T) -> bool) -> Option<T> {
        let n = self.items.len();
        if n == 0 {
            return None;
        }
        self.items.swap(0, n - 1);
        let top = self.items.pop();
        if !self.items.is_empty() {
            self.sift_down(0, better);
        }
        top
    }

    fn sift_down(&mut self, mut i: usize, better: &impl Fn(&T, &T) -> bool) {
        let n = self.items.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && better(&self.items[right], &self.items[left]) { right } else { left };
            if better(&self.items[child], &self.items[i]) {
                self.items.swap(i, child);
                i = child;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Heap;

    #[test]
    fn heap_pops_in_comparator_order() {
        // Order: larger first; keys are indexes into an outside table, compared through it.
        let table = [5u32, 1, 9, 3, 9, 0, 7, 7, 2];
        let better = |x: &usize, y: &usize| (table[*x], std::cmp::Reverse(*x)) > (table[*y], std::cmp::Reverse(*y));
        let mut heap = Heap::from_vec(vec![0, 1, 2, 3], &better);
        for i in 4..table.len() {
            heap.push(i, &better);
        }
        let mut popped = Vec::new();
        while let Some(x) = heap.pop(&better) {
            popped.push(x);
        }
        assert_eq!(popped, vec![2, 4, 6, 7, 0, 3, 8, 1, 5]);
        assert_eq!(heap.len(), 0);
    }
}
