//! `airlock svc ...` inside the sandbox: the same static binary run under
//! the name `airlock`, talking to init over its local socket.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use airlock_wire::{Control, Decoder, ExecRequest, Frame, FrameKind, ServiceInfo, SvcRequest};

const USAGE: &str = "usage:
  airlock svc start NAME [--restart-on-failure] [--cwd DIR] [-e KEY=VALUE]... -- COMMAND [ARGS...]
  airlock svc stop NAME
  airlock svc restart NAME
  airlock svc ls
  airlock svc logs NAME [-f|--follow] [-n|--tail LINES]";

/// Runs the CLI; `args` excludes the program name.
pub fn main(args: Vec<String>) -> ExitCode {
    let req = match parse(&args) {
        Ok(req) => req,
        Err(e) => {
            eprintln!("airlock: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sock = std::env::var("AIRLOCK_SVC_SOCKET").unwrap_or("/run/airlock/svc.sock".into());
    match call(&sock, &req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: cannot reach airlock-init at {sock}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Parses `svc ...` arguments into a request.
pub fn parse(args: &[String]) -> Result<SvcRequest, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["svc", "ls"] => Ok(SvcRequest::Ls),
        ["svc", "stop", name] => Ok(SvcRequest::Stop {
            name: name.to_string(),
        }),
        ["svc", "restart", name] => Ok(SvcRequest::Restart {
            name: name.to_string(),
        }),
        ["svc", "logs", name, opts @ ..] => parse_logs(name, opts),
        ["svc", "start", name, rest @ ..] => parse_start(name, rest),
        _ => Err("unknown command".into()),
    }
}

fn parse_logs(name: &str, opts: &[&str]) -> Result<SvcRequest, String> {
    let (mut follow, mut tail) = (false, None);
    let mut it = opts.iter();
    while let Some(opt) = it.next() {
        match *opt {
            "-f" | "--follow" => follow = true,
            "-n" | "--tail" => {
                let n = it.next().ok_or("--tail needs a number")?;
                tail = Some(
                    n.parse()
                        .map_err(|_| format!("--tail: {n:?} is not a number"))?,
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(SvcRequest::Logs {
        name: name.into(),
        follow,
        tail,
    })
}

fn parse_start(name: &str, rest: &[&str]) -> Result<SvcRequest, String> {
    let split = rest
        .iter()
        .position(|a| *a == "--")
        .ok_or("missing -- COMMAND")?;
    let (opts, command) = (&rest[..split], &rest[split + 1..]);
    if command.is_empty() {
        return Err("missing COMMAND after --".into());
    }
    let mut exec = ExecRequest::new(command.iter().copied());
    let mut restart_on_failure = false;
    let mut it = opts.iter();
    while let Some(opt) = it.next() {
        match *opt {
            "--restart-on-failure" => restart_on_failure = true,
            "--cwd" => exec.cwd = Some(it.next().ok_or("--cwd needs a directory")?.to_string()),
            "-e" | "--env" => {
                let kv = it.next().ok_or("-e needs KEY=VALUE")?;
                let (k, v) = kv.split_once('=').ok_or("-e needs KEY=VALUE")?;
                exec.env.insert(k.into(), v.into());
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(SvcRequest::Start {
        name: name.into(),
        exec,
        restart_on_failure,
    })
}

/// Sends the request and prints the answer; the exit code says how it went.
fn call(sock: &str, req: &SvcRequest) -> io::Result<ExitCode> {
    let mut conn = UnixStream::connect(sock)?;
    conn.write_all(&Frame::control(1, &Control::Svc(req.clone())).encode())?;
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = io::stdout().lock();
    loop {
        while let Some(frame) = decoder.next_frame().map_err(io::Error::other)? {
            if frame.kind == FrameKind::Data {
                out.write_all(&frame.payload)?;
                out.flush()?;
                continue;
            }
            match frame.to_control().map_err(io::Error::other)? {
                Control::Services { services } => {
                    print_services(&mut out, &services)?;
                    return Ok(ExitCode::SUCCESS);
                }
                Control::Done { .. } => return Ok(ExitCode::SUCCESS),
                Control::Error { message } => {
                    eprintln!("airlock: {message}");
                    return Ok(ExitCode::from(1));
                }
                _ => {}
            }
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "init hung up"));
        }
        decoder.feed(&buf[..n]);
    }
}

fn print_services(out: &mut impl Write, services: &[ServiceInfo]) -> io::Result<()> {
    writeln!(
        out,
        "{:<20} {:<8} {:>7} {:>8}  COMMAND",
        "NAME", "STATE", "PID", "RESTARTS"
    )?;
    for s in services {
        let state = serde_json::to_value(s.state).ok();
        let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
        let pid = s.pid.map_or("-".to_string(), |p| p.to_string());
        let cmd = s.argv.join(" ");
        writeln!(
            out,
            "{:<20} {:<8} {:>7} {:>8}  {cmd}",
            s.name, state, pid, s.restarts
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(&args("svc ls")).unwrap(), SvcRequest::Ls);
        let SvcRequest::Start {
            name,
            exec,
            restart_on_failure,
        } = parse(&args(
            "svc start web --restart-on-failure -e A=b -- python3 -m http.server",
        ))
        .unwrap()
        else {
            panic!()
        };
        assert_eq!(name, "web");
        assert!(restart_on_failure);
        assert_eq!(exec.argv, ["python3", "-m", "http.server"]);
        assert_eq!(exec.env["A"], "b");
        assert_eq!(
            parse(&args("svc logs web -f -n 20")).unwrap(),
            SvcRequest::Logs {
                name: "web".into(),
                follow: true,
                tail: Some(20)
            }
        );
    }

    #[test]
    fn refuses_bad_commands() {
        for bad in [
            "",
            "svc",
            "svc start web",
            "svc start web --",
            "svc logs web -n x",
            "svc nuke",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
