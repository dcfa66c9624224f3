//! Catch-up: what a neighbour lacks, and the queue that sends it between live records.

use std::collections::VecDeque;

use bytes::Bytes;

use super::Watermarks;
#[cfg(doc)]
use crate::record::Record;
use crate::table::LocationTable;

/// The line of every record of `table` numbered above `theirs[origin]`, ordered by origin,
/// then number: what a neighbour whose watermarks are `theirs` lacks. (A whole-table scan: run
/// it off the async workers.) Lines are copied out of the table, not decoded: a catch-up only
/// sends them.
pub fn missing(table: &LocationTable, theirs: &Watermarks) -> Vec<Bytes> {
    // The origins met so far, with the neighbour's mark of each: a herd has a few servers,
    // and the sort below then compares numbers, not names.
    let mut origins: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut lacked: Vec<(usize, u64, Bytes)> = Vec::new();
    table.for_each(|r| {
        let origin = r.origin();
        let i = match origins.iter().position(|(o, _)| o == origin) {
            Some(i) => i,
            None => {
                let name = std::str::from_utf8(origin).unwrap_or("");
                origins.push((origin.to_vec(), theirs.get(name).copied().unwrap_or(0)));
                origins.len() - 1
            }
        };
        let seq = r.seq();
        if seq > origins[i].1 {
            lacked.push((i, seq, Bytes::copy_from_slice(r.wire())));
        }
    });
    let mut by_name: Vec<usize> = (0..origins.len()).collect();
    by_name.sort_by(|&a, &b| origins[a].0.cmp(&origins[b].0));
    let mut rank = vec![0; origins.len()];
    for (r, &i) in by_name.iter().enumerate() {
        rank[i] = r;
    }
    lacked.sort_unstable_by_key(|&(i, seq, _)| (rank[i], seq));
    lacked.into_iter().map(|(_, _, wire)| wire).collect()
}

/// A catch-up under way on one link: records still to send, then the `CAUGHT` line.
#[derive(Debug, Default)]
pub struct CatchUpQueue {
    /// Records still to send, as lines ([`Record::wire`]).
    records: VecDeque<Bytes>,
    /// The `CAUGHT` line (with its `\n`) to send after them.
    done: Option<Vec<u8>>,
}

impl CatchUpQueue {
    /// A catch-up of `records`, then `done`.
    pub fn new(records: Vec<Bytes>, done: Vec<u8>) -> CatchUpQueue {
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
            out.extend_from_slice(&record);
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
        let lines = missing(&table, &theirs);
        let seqs: Vec<&[u8]> = lines
            .iter()
            .map(|l| &l[..l.iter().position(|&b| b == b' ').unwrap()])
            .collect();
        assert_eq!(seqs, [&b"5"[..], b"9"]);
    }

    #[test]
    fn the_queue_sends_batches_then_the_caught_line_once() {
        let records = vec![sample("a", 1).wire_bytes(), sample("b", 2).wire_bytes()];
        let mut q = CatchUpQueue::new(records, b"CAUGHT\n".to_vec());
        let mut out = Vec::new();
        assert!(q.next_batch(1, &mut out));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(q.next_batch(1, &mut out));
        assert!(out.ends_with(b"CAUGHT\n"));
        assert!(!q.next_batch(1, &mut out));
    }
}
