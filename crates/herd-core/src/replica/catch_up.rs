//! Catch-up: what a neighbour lacks, and the queue that sends it between live records.

use std::collections::VecDeque;

use super::Watermarks;
use crate::record::Record;
use crate::table::LocationTable;

/// Every record of `table` numbered above `theirs[origin]`, ordered by origin, then number:
/// what a neighbour whose watermarks are `theirs` lacks. (A whole-table scan: run it off the
/// async workers.)
pub fn missing(table: &LocationTable, theirs: &Watermarks) -> Vec<Record> {
    let mut records = Vec::new();
    table.for_each(|r| {
        let origin = std::str::from_utf8(r.origin()).unwrap_or("");
        if r.seq() > theirs.get(origin).copied().unwrap_or(0) {
            records.push(r.to_record());
        }
    });
    records.sort_by(|a, b| a.origin().cmp(b.origin()).then(a.seq().cmp(&b.seq())));
    records
}

/// A catch-up under way on one link: records still to send, then the `CAUGHT` line.
#[derive(Debug, Default)]
pub struct CatchUpQueue {
    /// Records still to send.
    records: VecDeque<Record>,
    /// The `CAUGHT` line (with its `\n`) to send after them.
    done: Option<Vec<u8>>,
}

impl CatchUpQueue {
    /// A catch-up of `records`, then `done`.
    pub fn new(records: Vec<Record>, done: Vec<u8>) -> CatchUpQueue {
        CatchUpQueue {
            records: records.into(),
            done: Some(done),
        }
    }

    /// Appends the next batch of at most `max` records to `out` as neighbour lines, and the
    /// `CAUGHT` line once the records are all out. Returns whether it appended anything.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<u8>) -> bool {
        let before = out.len();
        let n = self.records.len().min(max);
        for record in self.records.drain(..n) {
            out.extend_from_slice(record.wire());
            out.push(b'\n');
        }
        if self.records.is_empty() {
            if let Some(done) = self.done.take() {
                out.extend_from_slice(&done);
            }
        }
        out.len() > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample;

    #[test]
    fn a_neighbour_gets_what_it_lacks_in_order() {
        let table = LocationTable::new();
        for (c, t) in [("x", 9), ("y", 3), ("z", 5)] {
            table.offer(&sample(c, t));
        }
        let theirs: Watermarks = [("A".to_string(), 4)].into();
        let seqs: Vec<u64> = missing(&table, &theirs).iter().map(Record::seq).collect();
        assert_eq!(seqs, [5, 9]);
    }

    #[test]
    fn the_queue_sends_batches_then_the_caught_line_once() {
        let mut q = CatchUpQueue::new(vec![sample("a", 1), sample("b", 2)], b"CAUGHT\n".to_vec());
        let mut out = Vec::new();
        assert!(q.next_batch(1, &mut out));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(q.next_batch(1, &mut out));
        assert!(out.ends_with(b"CAUGHT\n"));
        assert!(!q.next_batch(1, &mut out));
    }
}
