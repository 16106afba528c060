//! Running a process in the sandbox and talking to it while it runs.

use airlock_mux::{Inbound, Stream, StreamSender};
use airlock_wire::{Control, ExecRequest, ExitStatus, FrameKind};

use super::conn::InitConn;
use super::error::ChannelError;

/// What a running process produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Bytes on stdout (all output, for a PTY).
    Stdout(Vec<u8>),
    /// Bytes on stderr.
    Stderr(Vec<u8>),
    /// The process ended and its output is drained; the last event.
    Exited(ExitStatus),
}

/// Everything a finished process produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub status: ExitStatus,
}

/// A process running in the sandbox. Dropping it before `Exited` kills
/// the process (as a hangup would).
#[derive(Debug)]
pub struct ExecSession {
    pid: u32,
    stream: Stream,
    done: bool,
}

/// The input side of a session; clone it into the task that forwards a
/// client's keystrokes while another reads the output.
#[derive(Debug, Clone)]
pub struct ExecInput {
    sender: StreamSender,
}

impl InitConn {
    /// Starts `req` in the sandbox; returns once it runs (or why it could not).
    pub async fn exec(&self, req: ExecRequest) -> Result<ExecSession, ChannelError> {
        let mut stream = self.mux()?.open(&Control::Exec(req)).await?;
        match stream.recv().await {
            Some(Inbound::Control(Control::Started { pid })) => Ok(ExecSession {
                pid,
                stream,
                done: false,
            }),
            Some(Inbound::Control(Control::Error { message })) => {
                Err(ChannelError::Remote(message))
            }
            Some(other) => Err(ChannelError::Protocol(format!("{other:?}"))),
            None => Err(ChannelError::Lost),
        }
    }
}

impl ExecSession {
    /// The process's pid inside the sandbox.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A handle for stdin, resizes and signals.
    pub fn input(&self) -> ExecInput {
        ExecInput {
            sender: self.stream.sender(),
        }
    }

    /// The next output or the exit; `None` after the exit was returned.
    pub async fn next_event(&mut self) -> Result<Option<ExecEvent>, ChannelError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let event = match self.stream.recv().await.ok_or(ChannelError::Lost)? {
                Inbound::Data(FrameKind::Stdout, d) => ExecEvent::Stdout(d),
                Inbound::Data(FrameKind::Stderr, d) => ExecEvent::Stderr(d),
                Inbound::Control(Control::Exited { status }) => {
                    self.done = true;
                    ExecEvent::Exited(status)
                }
                Inbound::Control(Control::Error { message }) => {
                    self.done = true;
                    return Err(ChannelError::Remote(message));
                }
                _ => continue,
            };
            return Ok(Some(event));
        }
    }

    /// Collects all output until the process ends.
    pub async fn wait_with_output(mut self) -> Result<ExecOutput, ChannelError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(event) = self.next_event().await? {
            match event {
                ExecEvent::Stdout(d) => stdout.extend(d),
                ExecEvent::Stderr(d) => stderr.extend(d),
                ExecEvent::Exited(status) => {
                    return Ok(ExecOutput {
                        stdout,
                        stderr,
                        status,
                    });
                }
            }
        }
        Err(ChannelError::Lost)
    }
}

impl ExecInput {
    /// Sends bytes to the process's stdin (or its terminal).
    pub async fn write(&self, data: &[u8]) -> Result<(), ChannelError> {
        Ok(self.sender.send_data(FrameKind::Stdin, data).await?)
    }

    /// Closes the process's stdin (pipes only; a PTY takes Ctrl-D as data).
    pub async fn close(&self) -> Result<(), ChannelError> {
        Ok(self.sender.send(&Control::StdinEof).await?)
    }

    /// Tells the process its terminal is now `rows` × `cols`.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), ChannelError> {
        Ok(self.sender.send(&Control::Resize { rows, cols }).await?)
    }

    /// Sends signal `signo` to the process's group.
    pub async fn signal(&self, signo: i32) -> Result<(), ChannelError> {
        Ok(self.sender.send(&Control::Signal { signo }).await?)
    }
}
