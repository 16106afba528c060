//! File copies and service commands.

use airlock_mux::{Inbound, Stream};
use airlock_wire::{Control, CopyFormat, FrameKind, ServiceInfo, SvcRequest, User};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::InitConn;
use super::error::ChannelError;

impl InitConn {
    /// Copies `data` to `path` in the sandbox: one file (`mode`, default
    /// 0644) or a tar archive unpacked into the directory `path`. The write
    /// is made with `user`'s permissions; paths with `..` are refused.
    /// Returns the bytes init consumed.
    pub async fn copy_in<R: AsyncRead + Unpin>(
        &self,
        path: &str,
        format: CopyFormat,
        mode: Option<u32>,
        user: User,
        mut data: R,
    ) -> Result<u64, ChannelError> {
        let msg = Control::CopyIn {
            path: path.into(),
            format,
            mode,
            user,
        };
        let mut stream = self.mux()?.open(&msg).await?;
        let sender = stream.sender();
        let mut buf = vec![0u8; 32 * 1024];
        // init only speaks early to refuse (bad path, no permission); it
        // then stops reading, so waiting for credit must not hide its answer.
        loop {
            let n = tokio::select! {
                n = data.read(&mut buf) => n?,
                early = stream.recv() => return done(early),
            };
            if n == 0 {
                break;
            }
            tokio::select! {
                sent = sender.send_data(FrameKind::Data, &buf[..n]) => sent?,
                early = stream.recv() => return done(early),
            }
        }
        sender.send(&Control::DataEnd).await?;
        loop {
            match stream.recv().await {
                Some(Inbound::Data(..)) => {}
                other => return done(other),
            }
        }
    }

    /// Copies `path` out of the sandbox into `out`: one file's bytes, or a
    /// tar archive of the tree (`CopyFormat::Tar`). Returns the bytes.
    pub async fn copy_out<W: AsyncWrite + Unpin>(
        &self,
        path: &str,
        format: CopyFormat,
        user: User,
        out: W,
    ) -> Result<u64, ChannelError> {
        let msg = Control::CopyOut {
            path: path.into(),
            format,
            user,
        };
        let stream = self.mux()?.open(&msg).await?;
        drain_into(stream, out).await
    }

    /// A service command other than `Logs`: start, stop, restart, ls.
    /// Returns the services it concerns (all of them for `Ls`).
    pub async fn svc(&self, req: SvcRequest) -> Result<Vec<ServiceInfo>, ChannelError> {
        if matches!(req, SvcRequest::Logs { .. }) {
            return Err(ChannelError::Protocol("use svc_logs for logs".into()));
        }
        let mut stream = self.mux()?.open(&Control::Svc(req)).await?;
        loop {
            match stream.recv().await.ok_or(ChannelError::Lost)? {
                Inbound::Control(Control::Services { services }) => return Ok(services),
                Inbound::Control(Control::Error { message }) => {
                    return Err(ChannelError::Remote(message));
                }
                _ => {}
            }
        }
    }

    /// Writes service `name`'s log to `out`: the last `tail` lines (all if
    /// `None`), then with `follow` new output until the future is dropped.
    pub async fn svc_logs<W: AsyncWrite + Unpin>(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
        out: W,
    ) -> Result<u64, ChannelError> {
        let req = SvcRequest::Logs {
            name: name.into(),
            follow,
            tail,
        };
        let stream = self.mux()?.open(&Control::Svc(req)).await?;
        drain_into(stream, out).await
    }
}

/// Writes data frames to `out` until `Done`.
async fn drain_into<W: AsyncWrite + Unpin>(
    mut stream: Stream,
    mut out: W,
) -> Result<u64, ChannelError> {
    loop {
        match stream.recv().await {
            Some(Inbound::Data(FrameKind::Data, d)) => out.write_all(&d).await?,
            Some(Inbound::Data(..)) => {}
            other => {
                out.flush().await?;
                return done(other);
            }
        }
    }
}

/// The outcome a stream's terminal message reports.
fn done(msg: Option<Inbound>) -> Result<u64, ChannelError> {
    match msg {
        Some(Inbound::Control(Control::Done { bytes })) => Ok(bytes),
        Some(Inbound::Control(Control::Error { message })) => Err(ChannelError::Remote(message)),
        Some(other) => Err(ChannelError::Protocol(format!("{other:?}"))),
        None => Err(ChannelError::Lost),
    }
}
