//! Runs one provider process in its own process group, feeding stdin and collecting output, with a time limit.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// How long to keep reading stdout and stderr after the provider exited.
///
/// A provider that leaves a background process holding its stdout open would otherwise block the
/// call until that process ends.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// `ETXTBSY`: the executable is open for writing somewhere (being replaced, or a test just wrote it).
const TEXT_FILE_BUSY: i32 = 26;

pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

pub(crate) enum RunError {
    Spawn(io::Error),
    Io(io::Error),
    TimedOut,
}

/// Runs `program` with exactly `env`, no arguments, `stdin` (or `/dev/null`), until it exits or `limit` passes.
///
/// On timeout, or if the returned future is dropped early, the whole process group is killed.
pub(crate) async fn run(
    program: &Path,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    limit: Option<Duration>,
) -> Result<Finished, RunError> {
    let mut command = Command::new(program);
    command
        .env_clear()
        .envs(env)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = spawn(&mut command).await.map_err(RunError::Spawn)?;
    let mut group = GroupKiller::new(&child);

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let work = communicate(&mut child, stdin, &mut stdout, &mut stderr);
    let status = match limit {
        None => work.await,
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(res) => res,
            Err(_elapsed) => {
                drop(group); // Kills the group, including anything the provider started.
                let _ = child.kill().await;
                return Err(RunError::TimedOut);
            }
        },
    };
    group.disarm();
    Ok(Finished {
        status: status.map_err(RunError::Io)?,
        stdout,
        stderr,
    })
}

async fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(err) if err.raw_os_error() == Some(TEXT_FILE_BUSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            res => return res,
        }
    }
}

/// Writes stdin, reads stdout and stderr, and waits for the exit, all at once so no pipe fills up.
async fn communicate(
    child: &mut Child,
    stdin: Option<Vec<u8>>,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> io::Result<ExitStatus> {
    let mut stdin_pipe = child.stdin.take();
    let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let pipes = async {
        let write = async {
            if let (Some(pipe), Some(data)) = (stdin_pipe.as_mut(), stdin.as_deref()) {
                // A provider may exit without reading stdin; that is its business, not an error.
                let _ = pipe.write_all(data).await;
            }
            drop(stdin_pipe.take()); // EOF for the provider.
        };
        let (_, out, err) = tokio::join!(write, stdout_pipe.read_to_end(stdout), stderr_pipe.read_to_end(stderr));
        out.and(err).map(drop)
    };
    let mut pipes = pin!(pipes);

    let mut pipes_done = None;
    let status = loop {
        tokio::select! {
            res = &mut pipes, if pipes_done.is_none() => pipes_done = Some(res),
            status = child.wait() => break status?,
        }
    };
    let pipes_done = match pipes_done {
        Some(res) => Some(res),
        None => tokio::time::timeout(DRAIN_AFTER_EXIT, &mut pipes).await.ok(),
    };
    if let Some(Err(err)) = pipes_done {
        return Err(err);
    }
    Ok(status)
}

/// Kills a child's process group when dropped, unless disarmed.
struct GroupKiller(Option<Pid>);

impl GroupKiller {
    fn new(child: &Child) -> GroupKiller {
        // Invariant: the child was started with `process_group(0)`, so its pid is its group id.
        let pgid = child.id().and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw);
        GroupKiller(pgid)
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}
