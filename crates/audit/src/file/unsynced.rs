//! Why the search index may be written without ever syncing.
//!
//! SQLite with `synchronous=OFF` survives the process dying (what it wrote
//! is in the kernel's page cache) but not the machine stopping: pages the
//! kernel had not written back yet are lost, and the file may be damaged.
//! Its syncs, though, compete with the log's own on the disk (eight writers
//! appended ~10 % more events per second without them). The index is
//! derived, so it is rebuilt instead when the machine may have stopped while
//! it held unsynced writes: the index records the boot it was opened in
//! (durably, before any unsynced write), and that it was closed (after a
//! synced checkpoint). Opened in another boot and not closed: rebuilt.
//! Where the boot cannot be told, the index syncs at checkpoints as before.

use rusqlite::Connection;

use crate::error::StoreError;
use crate::file::sql::{meta_get as get, meta_put as put};

/// Where Linux publishes an id that changes at every boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The current boot's id, when the kernel tells it.
pub(crate) fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// Checks that the index on `conn` can be trusted in boot `boot`, then marks
/// it open in this boot (durably) and turns syncing off. Err when the index
/// was open without syncing in another boot and not closed: the caller
/// rebuilds it. With no boot id, syncing stays on (`NORMAL`).
pub(crate) fn open(conn: &Connection, boot: Option<&str>) -> Result<(), StoreError> {
    let Some(boot) = boot else {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        return Ok(());
    };
    let last_boot = get(conn, "boot")?;
    let closed = get(conn, "closed")?.is_none_or(|v| v == b"1");
    if last_boot.is_some_and(|b| b != boot.as_bytes()) && !closed {
        return Err(StoreError::Corrupt(
            "the index was written without syncing and the machine restarted before it was closed"
                .into(),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let tx = conn.unchecked_transaction()?;
    put(&tx, "boot", boot.as_bytes())?;
    put(&tx, "closed", b"0")?;
    tx.commit()?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    Ok(())
}

/// Makes everything written so far durable (a synced checkpoint), then
/// records that the index was closed.
pub(crate) fn close(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    put(conn, "closed", b"1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT")
            .unwrap();
        conn
    }

    fn synchronous(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_index_left_open_is_refused_in_the_next_boot_only() {
        let conn = index();
        open(&conn, Some("boot-a")).unwrap();
        assert_eq!(synchronous(&conn), 0, "OFF while open");
        // The process died without closing: the same boot may go on.
        open(&conn, Some("boot-a")).unwrap();
        let err = open(&conn, Some("boot-b")).unwrap_err();
        assert!(err.to_string().contains("restarted"), "{err}");
    }

    #[test]
    fn a_closed_index_is_kept_across_boots() {
        let conn = index();
        open(&conn, Some("boot-a")).unwrap();
        close(&conn).unwrap();
        assert_eq!(synchronous(&conn), 2, "FULL once closed");
        open(&conn, Some("boot-b")).unwrap();
        open(&conn, Some("boot-b")).unwrap();
    }

    #[test]
    fn an_index_from_before_the_marks_is_kept() {
        open(&index(), Some("boot-a")).unwrap();
    }

    #[test]
    fn without_a_boot_id_the_index_keeps_syncing() {
        let conn = index();
        open(&conn, None).unwrap();
        assert_eq!(synchronous(&conn), 1, "NORMAL");
        assert!(get(&conn, "boot").unwrap().is_none());
    }

    #[test]
    fn this_machine_has_a_boot_id() {
        assert!(boot_id().is_some_and(|id| id.len() >= 32));
    }
}
