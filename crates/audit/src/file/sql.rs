//! The SQL side of the search index: writing rows, building searches, and
//! a small pool of read connections.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::file::recent::Chunk;
use crate::query::{ActionFilter, Order, Query};

/// Writes rows in one transaction. `OR IGNORE`: no row is there twice
/// (rows are written once, from where the last write ended), and with no
/// constraint that can abort the statement SQLite needs no statement journal,
/// which would otherwise copy about two pages per row to a temporary file.
pub(crate) fn write_rows(conn: &mut Connection, chunks: &[Arc<Chunk>]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (seq, seg, off, user, sandbox, action, decision, time, code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in chunks.iter().flat_map(|c| c.rows.iter()) {
            let [u, s, a, d, t, c] = &r.fields;
            let (seq, seg, off) = (as_i64(r.seq), as_i64(r.seg), as_i64(r.off));
            stmt.execute(params![seq, seg, off, u, s, a, d, t, c])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// SQLite integers are signed.
pub(crate) fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Builds the search statement; values always travel as parameters.
pub(crate) fn search_sql(
    q: &Query,
    upto: u64,
    limit: usize,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    // `+seq`: the bound is a filter, not a reason to walk the table by seq
    // (SQLite would then scan every row for a rare user).
    let mut sql = String::from("SELECT seq, seg, off FROM events WHERE +seq < ?");
    let mut args: Vec<V> = vec![V::Integer(as_i64(upto))];
    let mut cond = |clause: &str, v: V| {
        sql.push_str(clause);
        args.push(v);
    };
    if let Some(u) = &q.user {
        cond(" AND user = ?", V::Text(u.to_string()));
    }
    if let Some(s) = &q.sandbox {
        cond(" AND sandbox = ?", V::Text(s.to_string()));
    }
    match &q.action {
        Some(ActionFilter::Exact(a)) => cond(" AND action = ?", V::Text(a.clone())),
        Some(ActionFilter::Prefix(p)) => {
            // A range on the index instead of LIKE (which SQLite would not
            // index case-sensitively): [p, p with its last byte incremented).
            let mut end = p.clone().into_bytes();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            cond(" AND action >= ?", V::Text(p.clone()));
            cond(
                " AND action < ?",
                V::Text(String::from_utf8_lossy(&end).into_owned()),
            );
        }
        None => {}
    }
    if let Some(d) = q.decision {
        cond(" AND decision = ?", V::Text(d.as_str().to_owned()));
    }
    if let Some(t) = &q.since {
        cond(" AND time >= ?", V::Text(crate::timefmt::format(t)));
    }
    if let Some(t) = &q.until {
        cond(" AND time < ?", V::Text(crate::timefmt::format(t)));
    }
    if let Some(s) = q.after_seq {
        cond(" AND seq > ?", V::Integer(as_i64(s)));
    }
    if let Some(s) = q.before_seq {
        cond(" AND seq < ?", V::Integer(as_i64(s)));
    }
    let order = match q.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    sql.push_str(&format!(" ORDER BY seq {order} LIMIT ?"));
    args.push(V::Integer(limit as i64));
    (sql, args)
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
