//! Spans: one row per index write, naming the seqs it covered and the
//! times of its events. They replace a B-tree entry per event on `time`
//! (which cost the indexer a sixth of its CPU): a search by time reads a
//! few spans to narrow the seqs it walks, then checks each row's own time.
//! They also group posting lists: every list lies within the span of the
//! write that made it, so lists of several keys merge span by span.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::StoreError;
use crate::file::recent::IndexRow;
use crate::file::sql::as_i64;
use crate::query::Query;

/// Index of the time field in [`IndexRow::fields`].
const TIME: usize = 4;

/// Seqs a search may return: `after < seq < before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqRange {
    pub after: Option<u64>,
    pub before: u64,
}

impl SeqRange {
    pub fn contains(&self, seq: u64) -> bool {
        self.after.is_none_or(|a| seq > a) && seq < self.before
    }
}

/// Records the span of one index write: `rows` in seq order, not empty.
/// `max_so_far` is the latest time of any event up to the span's end: it
/// never decreases from one span to the next, so the first span that could
/// hold a time is found through its index.
pub(crate) fn write<'a>(
    tx: &Transaction<'_>,
    rows: impl Iterator<Item = &'a IndexRow>,
) -> Result<(), StoreError> {
    let mut first = None;
    let mut last = 0;
    let (mut min, mut max): (Option<&str>, Option<&str>) = (None, None);
    for r in rows {
        first.get_or_insert(r.seq);
        last = r.seq;
        if let Some(t) = r.fields[TIME].as_deref() {
            min = Some(min.map_or(t, |m| m.min(t)));
            max = Some(max.map_or(t, |m| m.max(t)));
        }
    }
    let Some(first) = first else {
        return Ok(());
    };
    let before: Option<String> = tx
        .query_row(
            "SELECT max_so_far FROM spans ORDER BY end_seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let so_far = match (before.as_deref(), max) {
        (Some(b), Some(m)) => Some(b.max(m)),
        (b, m) => b.or(m),
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO spans (end_seq, first_seq, min_time, max_time, max_so_far)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        as_i64(last.saturating_add(1)),
        as_i64(first),
        min,
        max,
        so_far
    ])?;
    Ok(())
}

/// Narrows `range` to the spans that can hold `q`'s times; None when none
/// can. Rows are still checked against the times themselves.
pub(crate) fn narrow(
    conn: &Connection,
    q: &Query,
    mut range: SeqRange,
) -> Result<Option<SeqRange>, StoreError> {
    if let Some(since) = &q.since {
        // Spans before the first whose max_so_far reaches `since` hold only
        // earlier events.
        let sql = "SELECT first_seq FROM spans WHERE max_so_far >= ?1
                   ORDER BY max_so_far, end_seq LIMIT 1";
        let Some(first) = seq_at(conn, sql, since)? else {
            return Ok(None);
        };
        if let Some(at) = (first as u64).checked_sub(1) {
            range.after = Some(range.after.map_or(at, |a| a.max(at)));
        }
    }
    if let Some(until) = &q.until {
        // Spans after the last that holds an earlier event hold none.
        let sql = "SELECT end_seq FROM spans WHERE min_time < ?1 ORDER BY end_seq DESC LIMIT 1";
        let Some(end) = seq_at(conn, sql, until)? else {
            return Ok(None);
        };
        range.before = range.before.min(end as u64);
    }
    Ok(Some(range))
}

/// The one seq `sql` selects for `time`, if any.
fn seq_at(
    conn: &Connection,
    sql: &str,
    time: &time::OffsetDateTime,
) -> Result<Option<i64>, StoreError> {
    let time = crate::timefmt::format(time);
    Ok(conn
        .prepare_cached(sql)?
        .query_row([time], |r| r.get(0))
        .optional()?)
}

/// The spans that overlap `range`, as `(first_seq, end_seq)`, newest first
/// when `newest_first`.
pub(crate) fn overlapping(
    conn: &Connection,
    range: SeqRange,
    newest_first: bool,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let sql = format!(
        "SELECT first_seq, end_seq FROM spans WHERE end_seq > ?1 AND first_seq < ?2 ORDER BY end_seq {}",
        if newest_first { "DESC" } else { "ASC" }
    );
    let after = range.after.map_or(-1, as_i64);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, as_i64(range.before)], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
