//! The SQL side of the search index: writing rows, building searches, and
//! a small pool of read connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::StoreError;
use crate::file::postings;
use crate::file::recent::Chunk;
use crate::query::{ActionFilter, Order, Query};

/// Writes rows in one transaction, and each user's and each sandbox's
/// seqs among them as one posting list (see `postings`). `OR IGNORE`: no
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
        let mut lists: [HashMap<&str, Vec<u64>>; 2] = Default::default();
        for r in chunks.iter().flat_map(|c| c.rows.iter()) {
            let [u, s, a, d, t, c] = &r.fields;
            let (seq, seg, off) = (as_i64(r.seq), as_i64(r.seg), as_i64(r.off));
            stmt.execute(params![seq, seg, off, u, s, a, d, t, c])?;
            for (list, key) in lists.iter_mut().zip([u, s]) {
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
        for (kind, list) in [Keyed::User, Keyed::Sandbox].into_iter().zip(&lists) {
            for (key, seqs) in list {
                let last = as_i64(*seqs.last().expect("never empty"));
                put.execute(params![kind as i64, key, last, postings::encode(seqs)])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The fields with posting lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyed {
    User = 0,
    Sandbox = 1,
}

/// Entries below `upto` matching `q`, as `(seq, seg, off)`, in `q`'s order,
/// at most `limit`. With a user or sandbox, that one's posting lists give
/// the candidates and each is checked against its row (the row is the
/// truth; a list only says where to look); otherwise one SQL query.
pub(crate) fn search(
    conn: &Connection,
    q: &Query,
    upto: u64,
    limit: usize,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let keyed = match (&q.user, &q.sandbox) {
        (Some(u), _) => (Keyed::User, u.to_string()),
        (None, Some(s)) => (Keyed::Sandbox, s.to_string()),
        (None, None) => return search_rows(conn, q, upto, limit),
    };
    search_postings(conn, q, keyed, upto, limit)
}

fn search_rows(
    conn: &Connection,
    q: &Query,
    upto: u64,
    limit: usize,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    // `+seq`: the bound is a filter, not a reason to walk the table by seq
    // (SQLite would then scan every row for a rare action).
    let mut sql = String::from("SELECT seq, seg, off FROM events WHERE +seq < ?");
    let mut args: Vec<Value> = vec![Value::Integer(as_i64(upto))];
    push_filters(&mut sql, &mut args, q);
    if let Some(s) = q.after_seq {
        sql.push_str(" AND seq > ?");
        args.push(Value::Integer(as_i64(s)));
    }
    if let Some(s) = q.before_seq {
        sql.push_str(" AND seq < ?");
        args.push(Value::Integer(as_i64(s)));
    }
    sql.push_str(&format!(" ORDER BY seq {} LIMIT ?", direction(q.order)));
    args.push(Value::Integer(limit as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        let get = |i| r.get::<_, i64>(i).map(|v| v as u64);
        Ok((get(0)?, get(1)?, get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn search_postings(
    conn: &Connection,
    q: &Query,
    (kind, key): (Keyed, String),
    upto: u64,
    limit: usize,
) -> Result<Vec<(u64, u64, u64)>, StoreError> {
    let newest_first = q.order == Order::NewestFirst;
    // Wanted: low < seq < high. Lists that end at or below `low` are not read.
    let low = q.after_seq;
    let high = q.before_seq.map_or(upto, |b| b.min(upto));
    let lists_sql = format!(
        "SELECT seqs FROM postings WHERE kind = ?1 AND key = ?2 AND last_seq > ?3 ORDER BY last_seq {}",
        direction(q.order)
    );
    let mut lists = conn.prepare_cached(&lists_sql)?;
    // The row must hold the key too: a list only says where to look.
    let mut check_sql = String::from("SELECT seg, off FROM events WHERE seq = ?");
    let mut check_args = vec![Value::Null];
    push_filters(&mut check_sql, &mut check_args, q);
    let mut check = conn.prepare_cached(&check_sql)?;
    let mut out = Vec::new();
    let mut last: Option<u64> = None;
    let floor = low.map_or(-1, as_i64);
    let mut rows = lists.query(params![kind as i64, key, floor])?;
    while let Some(row) = rows.next()? {
        let damaged =
            || StoreError::Corrupt("a posting list in the search index is damaged".into());
        let blob = row.get_ref(0)?.as_blob().map_err(|_| damaged())?;
        let seqs = postings::decode(blob).ok_or_else(damaged)?;
        let walk: Box<dyn Iterator<Item = u64>> = match newest_first {
            true => Box::new(seqs.into_iter().rev()),
            false => Box::new(seqs.into_iter()),
        };
        for seq in walk {
            // Lists follow each other in seq order; anything else is a
            // repeat and is skipped.
            let onward = last.is_none_or(|l| if newest_first { seq < l } else { seq > l });
            let below = low.is_some_and(|l| seq <= l);
            let above = seq >= high;
            // Walking away from the range: nothing further can match.
            if onward && ((newest_first && below) || (!newest_first && above)) {
                return Ok(out);
            }
            if !onward || below || above {
                continue;
            }
            last = Some(seq);
            check_args[0] = Value::Integer(as_i64(seq));
            let hit = check
                .query_row(params_from_iter(check_args.iter()), |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })
                .optional()?;
            if let Some((seg, off)) = hit {
                out.push((seq, seg, off));
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
            // A range on the index instead of LIKE (which SQLite would not
            // index case-sensitively): [p, p with its last byte incremented).
            let mut end = p.clone().into_bytes();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            cond(" AND action >= ?", Value::Text(p.clone()));
            cond(
                " AND action < ?",
                Value::Text(String::from_utf8_lossy(&end).into_owned()),
            );
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
