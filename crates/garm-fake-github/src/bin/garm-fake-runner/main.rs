//! `garm-fake-runner`: a simulated GitHub Actions runner for tests and demos.
//!
//! `configure` does what `config.sh` does (registers with a registration token and writes
//! `.runner`, `.credentials`, `.credentials_rsaparams` into the current directory), `remove`
//! what `config.sh remove` does, and `run` what `run.sh` does: it reads those files (or a
//! `--jitconfig` blob), connects, takes a job, "runs" it for the time and with the outcome
//! the fake GitHub configured, and reports it. Ephemeral and JIT runners exit 0 after one
//! job. It executes no workflow steps and talks only to `garm-fake-github`.
//!
//! Exit codes follow the real runner: 0 success, 1 error, 2 retryable error, 5 another
//! listener is connected as this runner. Set `GARM_FAKE_RUNNER_LOG` to also log to a file;
//! `GARM_FAKE_RUNNER_RETRY_SECS` (default 30) and `GARM_FAKE_RUNNER_CONFLICT_WINDOW_SECS`
//! (default 240) scale its retries, `GARM_FAKE_RUNNER_POLL_SECS` (default 50) its polls.

mod log;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use garm_fake_github::runner::{self, ConfigureArgs, Listener, RunnerError};

use crate::log::log;

#[derive(Parser)]
#[command(name = "garm-fake-runner", about = "A simulated GitHub Actions runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register this runner (config.sh).
    Configure {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated custom labels.
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        #[arg(long)]
        runnergroup: Option<String>,
        #[arg(long, default_value = "_work")]
        work: String,
        #[arg(long)]
        ephemeral: bool,
        #[arg(long)]
        unattended: bool,
        #[arg(long)]
        no_default_labels: bool,
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        disableupdate: bool,
    },
    /// Unregister this runner (config.sh remove).
    Remove {
        #[arg(long)]
        token: String,
        #[arg(long)]
        unattended: bool,
    },
    /// Listen for a job (run.sh).
    Run {
        /// A base64 JIT configuration from generate-jitconfig.
        #[arg(long)]
        jitconfig: Option<String>,
        /// Exit after one job even when not ephemeral.
        #[arg(long)]
        once: bool,
        /// Accepted for compatibility with run.sh; ignored.
        #[arg(long)]
        startuptype: Option<String>,
    },
}

fn env_secs(name: &str, default: u64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(default as f64);
    Duration::from_secs_f64(secs.max(0.0))
}

fn fail(err: &RunnerError) -> ExitCode {
    log(&format!("error: {}", garm_base::chain(err)));
    ExitCode::from(err.exit_code() as u8)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    match cli.command {
        Command::Configure {
            url,
            token,
            name,
            labels,
            runnergroup,
            work,
            ephemeral,
            unattended: _,
            no_default_labels,
            replace,
            disableupdate,
        } => {
            let args = ConfigureArgs {
                url,
                token,
                name: name.unwrap_or_else(runner::hostname),
                labels: labels
                    .into_iter()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect(),
                runner_group: runnergroup,
                work,
                ephemeral,
                no_default_labels,
                replace,
                disable_update: disableupdate,
            };
            match runner::configure(&args, &dir).await {
                Ok(settings) => {
                    log(&format!(
                        "√ Runner successfully added (id {}, name {})",
                        settings.agent_id, settings.agent_name
                    ));
                    log("√ Settings Saved.");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&err),
            }
        }
        Command::Remove { token, unattended: _ } => match runner::remove(&token, &dir).await {
            Ok(()) => {
                log("√ Runner removed successfully");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
        Command::Run {
            jitconfig,
            once,
            startuptype: _,
        } => run(jitconfig, once, &dir).await,
    }
}

async fn run(jitconfig: Option<String>, once: bool, dir: &Path) -> ExitCode {
    let loaded = match &jitconfig {
        Some(blob) => runner::write_jit(blob, dir).and_then(|()| Listener::load(dir)),
        None => Listener::load(dir),
    };
    let mut listener = match loaded {
        Ok(listener) => listener,
        Err(err) => return fail(&err),
    };
    let retry = env_secs("GARM_FAKE_RUNNER_RETRY_SECS", 30);
    let window = env_secs("GARM_FAKE_RUNNER_CONFLICT_WINDOW_SECS", 240);
    let poll_wait = env_secs("GARM_FAKE_RUNNER_POLL_SECS", 50);
    let started = Instant::now();
    loop {
        match listener.connect().await {
            Ok(()) => break,
            Err(err @ (RunnerError::Conflict | RunnerError::Http { .. })) if started.elapsed() < window => {
                log(&format!("{err}; retrying in {}s", retry.as_secs_f64()));
                tokio::time::sleep(retry).await;
            }
            Err(err) => return fail(&err),
        }
    }
    log("√ Connected to GitHub");
    log("Listening for Jobs");
    let ephemeral = listener.settings.ephemeral;
    let mut failing_since: Option<Instant> = None;
    loop {
        let polled = tokio::select! {
            polled = listener.poll(poll_wait) => polled,
            _ = shutdown_signal() => {
                log("Exiting on signal");
                listener.disconnect().await;
                return ExitCode::SUCCESS;
            }
        };
        let job = match polled {
            Ok(Some(job)) => job,
            Ok(None) => {
                failing_since = None;
                continue;
            }
            Err(RunnerError::Http { .. }) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > window {
                    return ExitCode::from(2);
                }
                tokio::time::sleep(retry).await;
                continue;
            }
            Err(err @ RunnerError::Deleted) => {
                runner::delete_files(dir);
                return fail(&err);
            }
            Err(err) => return fail(&err),
        };
        failing_since = None;
        log(&format!(
            "{} Running job {} of {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ"),
            job.job_id,
            job.repository
        ));
        tokio::time::sleep(job.run_for).await;
        if let Err(err) = listener.complete(job.job_id, &job.conclusion).await {
            return fail(&err);
        }
        log(&format!(
            "{} Job {} completed with result: {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ"),
            job.job_id,
            job.conclusion
        ));
        if ephemeral || once {
            listener.disconnect().await;
            if ephemeral {
                runner::delete_files(dir);
            }
            return ExitCode::SUCCESS;
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
