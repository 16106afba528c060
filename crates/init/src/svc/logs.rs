//! Reading a service's log: the last lines, then optionally new output as
//! it is appended (`logs -f`).

use std::io::{self, SeekFrom};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::oneshot;

use super::serve::Reply;

/// How often a followed log is checked for growth.
const POLL: Duration = Duration::from_millis(200);
/// Without a tail count, at most this much of the end of the log is sent.
const MAX_BACKLOG: u64 = 8 << 20;

/// The byte offset where the last `n` lines of `text` start.
pub fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    // A final newline ends the last line rather than starting an empty one.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1)
}

/// Sends the log's backlog (the last `tail` lines), then, with `follow`,
/// everything appended until `cancel` fires.
pub async fn stream(
    path: &Path,
    tail: Option<usize>,
    follow: bool,
    reply: &Reply,
    mut cancel: oneshot::Receiver<()>,
) -> io::Result<u64> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let from = len.saturating_sub(MAX_BACKLOG);
    file.seek(SeekFrom::Start(from)).await?;
    let mut backlog = Vec::new();
    file.read_to_end(&mut backlog).await?;
    let start = tail.map_or(0, |n| tail_start(&backlog, n));
    let mut sent = (backlog.len() - start) as u64;
    reply.data(&backlog[start..]).await?;
    if !follow {
        return Ok(sent);
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n > 0 {
            reply.data(&buf[..n]).await?;
            sent += n as u64;
            continue;
        }
        tokio::select! {
            _ = &mut cancel => return Ok(sent),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines() {
        let text = b"a\nb\nc\n";
        assert_eq!(&text[tail_start(text, 1)..], b"c\n");
        assert_eq!(&text[tail_start(text, 2)..], b"b\nc\n");
        assert_eq!(&text[tail_start(text, 10)..], text);
        assert_eq!(&text[tail_start(text, 0)..], b"");
        let partial = b"a\nb";
        assert_eq!(&partial[tail_start(partial, 1)..], b"b");
    }
}
