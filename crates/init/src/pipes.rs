//! Async access to a PTY master. tokio's pipe types refuse a character
//! device and registering a raw descriptor with the reactor is unsafe, so
//! the master is used through two `tokio::fs::File`s (blocking reads and
//! writes on tokio's blocking pool): one for output, one for input, so a
//! pending read never holds up a keystroke.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use airlock_sys::pty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// The master side of a PTY, shared by the output pump and the input writer.
#[derive(Debug)]
pub struct PtyMaster {
    reader: Mutex<tokio::fs::File>,
    writer: Mutex<tokio::fs::File>,
}

impl PtyMaster {
    /// Wraps a master descriptor.
    pub fn new(master: OwnedFd) -> io::Result<Self> {
        let writer = File::from(master.try_clone()?);
        Ok(Self {
            reader: Mutex::new(tokio::fs::File::from_std(File::from(master))),
            writer: Mutex::new(tokio::fs::File::from_std(writer)),
        })
    }

    /// Reads output; 0 at the end. Linux reports the end of a PTY (every
    /// slave descriptor closed) as EIO, which is mapped to 0 here.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reader.lock().await.read(buf).await {
            Err(e) if pty::is_hangup(&e) => Ok(0),
            other => other,
        }
    }

    /// Writes all of `data` (keyboard input).
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut w = self.writer.lock().await;
        w.write_all(data).await?;
        w.flush().await
    }

    /// Resizes the terminal (the foreground job gets SIGWINCH).
    pub async fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let w = self.writer.lock().await;
        pty::set_size(w.as_fd(), rows, cols)
    }
}
