//! The SQL side of the search index: writing rows, building searches, and
//! a small pool of read connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::StoreError;
use crate::file::postings;
use crate::file::recent::Chunk;
use crate::file::spans::{self, SeqRange};
use crate::query::{ActionFilter, Order, Query};

/// Writes rows in one transaction, each user's, sandbox's and action's
/// seqs among them as one posting list (see `postings`), and the write's
/// span (see `spans`). `OR IGNORE`: no
/// row is there twice (rows are written once, from where the last write
/// ended), and with no constraint that can abort the statement SQLite needs
/// no statement journal, which would otherwise copy about two pages per row
/// to a temporary file.
pub(crate) fn write_rows(conn: &mut Connection, chunks: &[Arc<Chunk>]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (seq, seg, off, user, sandbox, action, decision, time, code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut lists: [HashMap<&str, Vec<u64>>; 3] = Default::default();
        for r in chunks.iter().flat_map(|c| c.rows.iter()) {
            let [u, s, a, d, t, c] = &r.fields;
            let (seq, seg, off) = (as_i64(r.seq), as_i64(r.seg), as_i64(r.off));
            stmt.execute(params![seq, seg, off, u, s, a, d, t, c])?;
            for (list, key) in lists.iter_mut().zip([u, s, a]) {
                if let Some(key) = key {
                    let seqs = list.entry(key).or_default();
                    if seqs.last().is_none_or(|&last| last < r.seq) {
                        seqs.push(r.seq);
                    }
                }
            }
        }
        let mut put = tx.prepare_cached(
            "INSERT OR IGNORE INTO postings (kind, key, last_seq, seqs) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (kind, list) in [Keyed::User, Keyed::Sandbox, Keyed::Action]
            .into_iter()
            .zip(&lists)
        {
            for (key, seqs) in list {
                let last = as_i64(*seqs.last().expect("never empty"));
                put.execute(params![kind as i64, key, last, postings::encode(seqs)])?;
            }
        }
        spans::write(&tx, chunks.iter().flat_map(|c| c.rows.iter()))?;
    }
    tx.commit()?;
    Ok(())
}

/// The fields with posting lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyed {
    User = 0,
    Sandbox = 1,
    Action = 2,
}

/// Entries below `upto` matching `q`, as `(seq, seg, off)`, in `q`'s order,
/// at most `limit`. Times narrow the seqs through the spans; then, with a
/// user, sandbox or action, that one's posting lists give the candidates
/// and each is checked against its row (the row is the truth; a list only
/// says where to look); otherwise the rows in range are walked.
pub(crate) fn search(
    conn: &Connection,
    q: &Query,
    upto: u64,
    limit: usize,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let range = SeqRange {
        after: q.after_seq,
        before: q.before_seq.map_or(upto, |b| b.min(upto)),
    };
    let Some(range) = spans::narrow(conn, q, range)? else {
        return Ok(Vec::new());
    };
    let (kind, keys) = match (&q.user, &q.sandbox, &q.action) {
        (Some(u), _, _) => (Keyed::User, vec![u.to_string()]),
        (None, Some(s), _) => (Keyed::Sandbox, vec![s.to_string()]),
        (None, None, Some(a)) => (Keyed::Action, action_keys(conn, a)?),
        (None, None, None) => return search_rows(conn, q, range, limit),
    };
    let mut check = Check::new(conn, q)?;
    match keys.as_slice() {
        [] => Ok(Vec::new()),
        [key] => search_postings(conn, q, (kind, key), range, limit, &mut check),
        _ => search_merged(conn, q, (kind, &keys), range, limit, &mut check),
    }
}

/// The actions that have posting lists and match `filter`.
fn action_keys(conn: &Connection, filter: &ActionFilter) -> Result<Vec<String>, StoreError> {
    let prefix = match filter {
        ActionFilter::Exact(a) => return Ok(vec![a.clone()]),
        ActionFilter::Prefix(p) => p,
    };
    let sql = "SELECT DISTINCT key FROM postings WHERE kind = ?1 AND key >= ?2 AND key < ?3";
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![Keyed::Action as i64, prefix, prefix_end(prefix)],
        |r| r.get(0),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The first string after every string that starts with `p` (a range
/// instead of LIKE, which SQLite would not index case-sensitively). Actions
/// are ASCII, so incrementing the last byte stays valid UTF-8.
fn prefix_end(p: &str) -> String {
    let mut end = p.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    String::from_utf8_lossy(&end).into_owned()
}

fn search_rows(
    conn: &Connection,
    q: &Query,
    range: SeqRange,
    limit: usize,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let mut sql = String::from("SELECT seq, seg, off FROM events WHERE seq < ?");
    let mut args: Vec<Value> = vec![Value::Integer(as_i64(range.before))];
    if let Some(s) = range.after {
        sql.push_str(" AND seq > ?");
        args.push(Value::Integer(as_i64(s)));
    }
    push_filters(&mut sql, &mut args, q);
    sql.push_str(&format!(" ORDER BY seq {} LIMIT ?", direction(q.order)));
    args.push(Value::Integer(limit as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        let get = |i| r.get::<_, i64>(i).map(|v| v as u64);
        Ok((get(0)?, get(1)?, get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Checks a candidate seq against its row and every filter of the query.
struct Check<'c> {
    stmt: rusqlite::CachedStatement<'c>,
    args: Vec<Value>,
}

impl<'c> Check<'c> {
    fn new(conn: &'c Connection, q: &Query) -> Result<Self, StoreError> {
        let mut sql = String::from("SELECT seg, off FROM events WHERE seq = ?");
        let mut args = vec![Value::Null];
        push_filters(&mut sql, &mut args, q);
        Ok(Self {
            stmt: conn.prepare_cached(&sql)?,
            args,
        })
    }

    /// `(seq, seg, off)` when the row at `seq` matches.
    fn row(&mut self, seq: u64) -> Result<Option<(u64, u64, u64)>, StoreError> {
        self.args[0] = Value::Integer(as_i64(seq));
        let hit = self
            .stmt
            .query_row(params_from_iter(self.args.iter()), |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .optional()?;
        Ok(hit.map(|(seg, off)| (seq, seg, off)))
    }
}

/// The seqs of the posting list in column 0 of `row`.
fn list_seqs(row: &rusqlite::Row<'_>) -> Result<Vec<u64>, StoreError> {
    let damaged = || StoreError::Corrupt("a posting list in the search index is damaged".into());
    let blob = row.get_ref(0)?.as_blob().map_err(|_| damaged())?;
    postings::decode(blob).ok_or_else(damaged)
}

fn search_postings(
    conn: &Connection,
    q: &Query,
    (kind, key): (Keyed, &str),
    range: SeqRange,
    limit: usize,
    check: &mut Check<'_>,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let newest_first = q.order == Order::NewestFirst;
    // Lists that end at or below `range.after` are not read.
    let lists_sql = format!(
        "SELECT seqs FROM postings WHERE kind = ?1 AND key = ?2 AND last_seq > ?3 ORDER BY last_seq {}",
        direction(q.order)
    );
    let mut lists = conn.prepare_cached(&lists_sql)?;
    let mut out = Vec::new();
    let mut last: Option<u64> = None;
    let floor = range.after.map_or(-1, as_i64);
    let mut rows = lists.query(params![kind as i64, key, floor])?;
    while let Some(row) = rows.next()? {
        let seqs = list_seqs(row)?;
        let walk: Box<dyn Iterator<Item = u64>> = match newest_first {
            true => Box::new(seqs.into_iter().rev()),
            false => Box::new(seqs.into_iter()),
        };
        for seq in walk {
            // Lists follow each other in seq order; anything else is a
            // repeat and is skipped.
            let onward = last.is_none_or(|l| if newest_first { seq < l } else { seq > l });
            let below = range.after.is_some_and(|l| seq <= l);
            let above = seq >= range.before;
            // Walking away from the range: nothing further can match.
            if onward && ((newest_first && below) || (!newest_first && above)) {
                return Ok(out);
            }
            if !onward || below || above {
                continue;
            }
            last = Some(seq);
            if let Some(hit) = check.row(seq)? {
                out.push(hit);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Like [`search_postings`] over the lists of several keys (an action
/// prefix): span by span, each span's lists of every key merged.
fn search_merged(
    conn: &Connection,
    q: &Query,
    (kind, keys): (Keyed, &[String]),
    range: SeqRange,
    limit: usize,
    check: &mut Check<'_>,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let newest_first = q.order == Order::NewestFirst;
    let sql = "SELECT seqs FROM postings WHERE kind = ?1 AND key = ?2 AND last_seq >= ?3 AND last_seq < ?4";
    let mut lists = conn.prepare_cached(sql)?;
    let mut out = Vec::new();
    for (first, end) in spans::overlapping(conn, range, newest_first)? {
        let mut seqs = Vec::new();
        for key in keys {
            let mut rows = lists.query(params![kind as i64, key, as_i64(first), as_i64(end)])?;
            while let Some(row) = rows.next()? {
                seqs.extend(list_seqs(row)?);
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        if newest_first {
            seqs.reverse();
        }
        for seq in seqs.into_iter().filter(|&s| range.contains(s)) {
            if let Some(hit) = check.row(seq)? {
                out.push(hit);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

fn direction(order: Order) -> &'static str {
    match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    }
}

/// Appends `q`'s conditions on a row's fields (not on its seq); values
/// always travel as parameters.
fn push_filters(sql: &mut String, args: &mut Vec<Value>, q: &Query) {
    let mut cond = |clause: &str, v: Value| {
        sql.push_str(clause);
        args.push(v);
    };
    if let Some(u) = &q.user {
        cond(" AND user = ?", Value::Text(u.to_string()));
    }
    if let Some(s) = &q.sandbox {
        cond(" AND sandbox = ?", Value::Text(s.to_string()));
    }
    match &q.action {
        Some(ActionFilter::Exact(a)) => cond(" AND action = ?", Value::Text(a.clone())),
        Some(ActionFilter::Prefix(p)) => {
            cond(" AND action >= ?", Value::Text(p.clone()));
            cond(" AND action < ?", Value::Text(prefix_end(p)));
        }
        None => {}
    }
    if let Some(d) = q.decision {
        cond(" AND decision = ?", Value::Text(d.as_str().to_owned()));
    }
    if let Some(t) = &q.since {
        cond(" AND time >= ?", Value::Text(crate::timefmt::format(t)));
    }
    if let Some(t) = &q.until {
        cond(" AND time < ?", Value::Text(crate::timefmt::format(t)));
    }
}

/// SQLite integers are signed.
pub(crate) fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A reader connection that goes back to the pool when dropped.
pub(crate) struct Pooled<'a> {
    pub conn: Option<Connection>,
    pub pool: &'a Mutex<Vec<Connection>>,
}

impl Pooled<'_> {
    pub fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut pool)) = (self.conn.take(), self.pool.lock())
            && pool.len() < 8
        {
            pool.push(c);
        }
    }
}

/// A value of the index's `meta` table (its log's id, its open/closed marks).
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = "SELECT value FROM meta WHERE key = ?1";
    Ok(conn.query_row(sql, [key], |r| r.get(0)).optional()?)
}

/// Sets a value of the index's `meta` table.
pub(crate) fn meta_put(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    let sql = "INSERT INTO meta (key, value) VALUES (?1, ?2)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    conn.execute(sql, params![key, value])?;
    Ok(())
}
