//! Index rows not yet written to `index.db`: parsed from the log, kept in
//! memory, searched by a plain scan.
//!
//! Why not write each row to SQLite at once: a B-tree index on a column with
//! many values (users, sandboxes) takes each new row on a different page, so
//! small transactions rewrite about one page per row per index, and those
//! pages then compete with the log's syncs for the disk. Held back and
//! written in large transactions, each page is written once for many rows.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::query::{ActionFilter, Query};

/// The searchable fields of a body (everything else is skipped).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Fields<'a> {
    #[serde(borrow)]
    pub user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub sandbox: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub decision: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// Parses what it can; a body that is not an event yields no fields.
    pub fn of(body: &'a [u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

/// One index row: where an entry is, and its searchable fields.
#[derive(Debug, Clone)]
pub(crate) struct IndexRow {
    /// The entry's index in the log.
    pub seq: u64,
    /// Number of the segment holding it.
    pub seg: u64,
    /// Offset of the record in that segment.
    pub off: u64,
    /// user, sandbox, action, decision, time, code.
    pub fields: [Option<Box<str>>; 6],
}

impl IndexRow {
    /// The row of the entry at `seq`, `(seg, off)`, with body `body`.
    pub fn new(seq: u64, seg: u64, off: u64, body: &[u8]) -> Self {
        let f = Fields::of(body);
        let own = |c: Option<Cow<'_, str>>| c.map(|c| Box::from(c.as_ref()));
        Self {
            seq,
            seg,
            off,
            fields: [f.user, f.sandbox, f.action, f.decision, f.time, f.code].map(own),
        }
    }

    /// The row of the entry at `seq`, `(seg, off)`, with fields already
    /// known (see `Searchable::fields`).
    pub fn from_fields(seq: u64, seg: u64, off: u64, fields: [Option<Box<str>>; 6]) -> Self {
        Self {
            seq,
            seg,
            off,
            fields,
        }
    }

    fn field(&self, i: usize) -> Option<&str> {
        self.fields[i].as_deref()
    }
}

/// The rows parsed in one pass, in seq order, with where each user's and
/// each sandbox's rows are (searches by user or sandbox are the common ones,
/// and should not cost a scan of every row held).
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The rows.
    pub rows: Vec<IndexRow>,
    by_user: HashMap<Box<str>, Vec<u32>>,
    by_sandbox: HashMap<Box<str>, Vec<u32>>,
}

impl Chunk {
    /// Indexes `rows` (at most `u32::MAX`).
    pub fn new(rows: Vec<IndexRow>) -> Self {
        let mut by_user: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut by_sandbox: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            let i = u32::try_from(i).expect("chunks are small");
            if let Some(u) = &r.fields[0] {
                by_user.entry(u.clone()).or_default().push(i);
            }
            if let Some(s) = &r.fields[1] {
                by_sandbox.entry(s.clone()).or_default().push(i);
            }
        }
        Self {
            rows,
            by_user,
            by_sandbox,
        }
    }

    /// The rows that pass `f`, in seq order.
    pub fn matching<'a>(&'a self, f: &Filter<'_>) -> Vec<&'a IndexRow> {
        let some = |map: &'a HashMap<Box<str>, Vec<u32>>, key: &str| -> Vec<&'a IndexRow> {
            let at = map.get(key).map_or(&[][..], Vec::as_slice);
            at.iter()
                .map(|&i| &self.rows[i as usize])
                .filter(|r| f.matches(r))
                .collect()
        };
        match (&f.q.user, &f.q.sandbox) {
            (Some(u), _) => some(&self.by_user, u.as_str()),
            (None, Some(s)) => some(&self.by_sandbox, s.as_str()),
            (None, None) => self.rows.iter().filter(|r| f.matches(r)).collect(),
        }
    }
}

/// A query's filters prepared for comparing with rows (times as stored).
#[derive(Debug)]
pub(crate) struct Filter<'q> {
    pub q: &'q Query,
    since: Option<String>,
    until: Option<String>,
}

impl<'q> Filter<'q> {
    /// Prepares `q`.
    pub fn new(q: &'q Query) -> Self {
        Self {
            q,
            since: q.since.as_ref().map(crate::timefmt::format),
            until: q.until.as_ref().map(crate::timefmt::format),
        }
    }

    /// Whether `row` passes every filter, compared as the SQL search does.
    pub fn matches(&self, row: &IndexRow) -> bool {
        let q = self.q;
        let eq = |i: usize, want: Option<&str>| want.is_none_or(|w| row.field(i) == Some(w));
        let user = q.user.as_ref().map(|u| u.as_str());
        let sandbox = q.sandbox.as_ref().map(|s| s.as_str());
        let action = match &q.action {
            None => true,
            Some(ActionFilter::Exact(a)) => row.field(2) == Some(a.as_str()),
            Some(ActionFilter::Prefix(p)) => {
                row.field(2).is_some_and(|a| a.starts_with(p.as_str()))
            }
        };
        let time = row.field(4);
        action
            && eq(0, user)
            && eq(1, sandbox)
            && eq(3, q.decision.map(|d| d.as_str()))
            && self
                .since
                .as_deref()
                .is_none_or(|s| time.is_some_and(|t| t >= s))
            && self
                .until
                .as_deref()
                .is_none_or(|u| time.is_some_and(|t| t < u))
            && q.after_seq.is_none_or(|s| row.seq > s)
            && q.before_seq.is_none_or(|s| row.seq < s)
    }
}
