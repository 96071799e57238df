//! `cargo xtask images`: builds the root `Dockerfile` on a machine that cannot pull images.
//!
//! The Dockerfile names two base images, `rust:<RUST_VERSION>-slim-<DEBIAN_RELEASE>` and
//! `debian:<DEBIAN_RELEASE>-slim`. Here they are made locally, under those names:
//!
//! - `debian:<release>-slim`: a `debootstrap --variant=minbase` root file system from the Debian
//!   mirror, `docker import`ed. The tarball is cached (`GARM_IMAGES_CACHE`, by default
//!   `<target dir>/xtask-images`), so a second run does not download it again.
//! - `rust:<version>-slim-<release>`: that image plus `gcc` and `libc6-dev` (what the official
//!   image has), this machine's Rust toolchain, and a copy of this machine's cargo registry with
//!   `CARGO_NET_OFFLINE=true`, because crates.io cannot be reached either. Its `CARGO_HOME`
//!   (`/usr/local/cargo-offline`) therefore differs from the official image's.
//! - `garm-rs/caddy-debian:local`: Debian's `caddy` package, standing in for the pinned Caddy
//!   image of `deploy/azure` in `cargo xtask aci-local`.
//!
//! Then `docker build -t garm-azure .` builds the Dockerfile as it is. The build needs BuildKit
//! (`RUN --mount`, `COPY --chmod`): a docker CLI with buildx, or Docker 20.10's own builder.

use crate::root;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub const GARM_IMAGE: &str = "garm-azure";
pub const CADDY_IMAGE: &str = "garm-rs/caddy-debian:local";

struct Options {
    build: bool,
    force: bool,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut options = Options {
        build: true,
        force: false,
    };
    for arg in args {
        match arg.as_str() {
            "--no-build" => options.build = false,
            "--force" => options.force = true,
            other => bail!("unknown option {other}; usage: cargo xtask images [--no-build] [--force]"),
        }
    }
    let started = Instant::now();
    let docker = docker_cli()?;
    let (rust_version, release) = dockerfile_args()?;
    let cache = cache_dir();
    std::fs::create_dir_all(&cache)?;

    let debian = format!("debian:{release}-slim");
    let rust = format!("rust:{rust_version}-slim-{release}");
    if options.force || !image_exists(&docker, &debian) {
        let rootfs = rootfs_tarball(&cache, &release)?;
        step(&format!("docker import {} as {debian}", rootfs.display()));
        let status = Command::new(&docker)
            .args(["import", "--change", "CMD [\"bash\"]"])
            .args([
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .arg(&rootfs)
            .arg(&debian)
            .stdout(Stdio::null())
            .status()?;
        ensure(status.success(), "docker import")?;
    } else {
        step(&format!("{debian} exists (--force makes it again)"));
    }
    // The builder's registry is a copy of this machine's, made for one Cargo.lock: a builder made
    // before a dependency was added (a Docker engine that outlives the checkout keeps it) would
    // fail offline on the new crate, so it is made again whenever the lock file changed.
    let lock = lock_digest()?;
    let builder_lock = image_label(&docker, &rust, LOCK_LABEL);
    if options.force || builder_lock.as_deref() != Some(lock.as_str()) {
        if let Some(old) = builder_lock {
            step(&format!(
                "{rust} was made for Cargo.lock {}, this checkout's is {}: making it again",
                short(&old),
                short(&lock)
            ));
        }
        builder_image(&docker, &cache, &debian, &rust, &rust_version, &lock)?;
    } else {
        step(&format!("{rust} exists for this Cargo.lock (--force makes it again)"));
    }
    if options.force || !image_exists(&docker, CADDY_IMAGE) {
        let dir = cache.join("caddy-context");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM {debian}\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends caddy ca-certificates \\\n    && rm -rf /var/lib/apt/lists/* && caddy version\n"
            ),
        )?;
        step(&format!(
            "{CADDY_IMAGE}: Debian's caddy package (stands in for the pinned Caddy image)"
        ));
        build(&docker, &["-t", CADDY_IMAGE], &dir)?;
    } else {
        step(&format!("{CADDY_IMAGE} exists"));
    }

    if options.build {
        step(&format!("docker build -t {GARM_IMAGE} . (the Dockerfile as it is)"));
        let built = Instant::now();
        build(&docker, &["-t", GARM_IMAGE], &root())?;
        step(&format!("{GARM_IMAGE} built in {:.0} s", built.elapsed().as_secs_f64()));
        // The image's own checks: the binaries run and the scripts are where the Dockerfile says.
        let out = Command::new(&docker)
            .args(["run", "--rm", "--entrypoint", "sh", GARM_IMAGE, "-c"])
            .arg("garm version && garm-cli --help >/dev/null && test -x /opt/garm/providers.d/garm-provider-azure && command -v garm-shell garm-snapshot garm-healthcheck garm-entrypoint setpriv sqlite3 curl >/dev/null && id -u garm")
            .output()?;
        ensure(
            out.status.success(),
            &format!("the image's self-check: {}", String::from_utf8_lossy(&out.stderr)),
        )?;
        let said = String::from_utf8_lossy(&out.stdout);
        step(&format!(
            "{GARM_IMAGE}: garm {}",
            said.split_whitespace().collect::<Vec<_>>().join(", uid ")
        ));
    }
    step(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

fn step(message: &str) {
    eprintln!("images: {message}");
}

fn ensure(ok: bool, what: &str) -> anyhow::Result<()> {
    if !ok {
        bail!("{what} failed");
    }
    Ok(())
}

/// A docker CLI that builds with BuildKit: `GARM_DOCKER`, `docker` when it has buildx, or the
/// distribution's Docker 20.10 client (`/usr/bin/docker`), whose built-in builder needs none.
pub fn docker_cli() -> anyhow::Result<String> {
    if let Ok(cli) = std::env::var("GARM_DOCKER") {
        return Ok(cli);
    }
    let quiet = |cli: &str, args: &[&str]| {
        Command::new(cli)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if quiet("docker", &["buildx", "version"]) {
        return Ok("docker".into());
    }
    if Path::new("/usr/bin/docker").exists() && quiet("/usr/bin/docker", &["version"]) {
        return Ok("/usr/bin/docker".into());
    }
    if quiet("docker", &["version"]) {
        return Ok("docker".into());
    }
    bail!("no Docker engine answers (docker version failed)")
}

/// `docker build` with BuildKit, showing the plain progress.
fn build(docker: &str, args: &[&str], context: &Path) -> anyhow::Result<()> {
    let status = Command::new(docker)
        .arg("build")
        .args(["--progress", "plain"])
        .args(args)
        .arg(context)
        .env("DOCKER_BUILDKIT", "1")
        .status()
        .context("running docker build")?;
    ensure(status.success(), &format!("docker build {}", args.join(" ")))
}

pub fn image_exists(docker: &str, image: &str) -> bool {
    Command::new(docker)
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `RUST_VERSION` and `DEBIAN_RELEASE`, the Dockerfile's global `ARG` defaults.
fn dockerfile_args() -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(root().join("Dockerfile"))?;
    let arg = |name: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("ARG {name}=")).map(str::to_string))
            .with_context(|| format!("the Dockerfile has no ARG {name}=…"))
    };
    Ok((arg("RUST_VERSION")?, arg("DEBIAN_RELEASE")?))
}

pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GARM_IMAGES_CACHE") {
        return PathBuf::from(dir);
    }
    super::target_dir().join("xtask-images")
}

/// The cached minbase root file system of `release`, made with debootstrap when missing.
fn rootfs_tarball(cache: &Path, release: &str) -> anyhow::Result<PathBuf> {
    let tarball = cache.join(format!("debian-{release}-minbase.tar"));
    if tarball.exists() {
        step(&format!("{} is cached", tarball.display()));
        return Ok(tarball);
    }
    if Command::new("debootstrap").arg("--version").output().is_err() {
        bail!("debootstrap is not installed (apt-get install debootstrap)");
    }
    let mirror = std::env::var("GARM_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let dir = cache.join(format!("rootfs-{release}.tmp"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    step(&format!("debootstrap --variant=minbase {release} from {mirror}"));
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", release])
        .arg(&dir)
        .arg(&mirror)
        .stdout(Stdio::null())
        .status()?;
    ensure(status.success(), "debootstrap")?;
    // The official image's sources: the release, its updates and its security updates.
    let security = mirror.replace("/debian", "/debian-security");
    std::fs::write(
        dir.join("etc/apt/sources.list"),
        format!("deb {mirror} {release} main\ndeb {mirror} {release}-updates main\ndeb {security} {release}-security main\n"),
    )?;
    for leftover in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let path = dir.join(leftover);
        for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
            if entry.path().is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    let partial = tarball.with_extension("tar.tmp");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["--numeric-owner", "-cf"])
        .arg(&partial)
        .arg(".")
        .status()?;
    ensure(status.success(), "tar of the root file system")?;
    std::fs::rename(&partial, &tarball)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(tarball)
}

/// `rust:<version>-slim-<release>`: Debian with a C toolchain, this machine's Rust toolchain and
/// an offline copy of its cargo registry.
fn builder_image(
    docker: &str,
    cache: &Path,
    debian: &str,
    name: &str,
    rust_version: &str,
    lock: &str,
) -> anyhow::Result<()> {
    // Every crate of Cargo.lock, for every platform, into this machine's registry first: the
    // host's own builds only download what they compiled, and the image builds offline.
    step("cargo fetch --locked (the builder's registry needs every locked crate)");
    let fetched = Command::new("cargo")
        .args(["fetch", "--locked", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .status()?;
    ensure(fetched.success(), "cargo fetch --locked")?;
    let sysroot = String::from_utf8(Command::new("rustc").args(["--print", "sysroot"]).output()?.stdout)?
        .trim()
        .to_string();
    let version = String::from_utf8(Command::new("rustc").arg("--version").output()?.stdout)?;
    if !version.contains(&format!("rustc {rust_version}")) {
        step(&format!(
            "note: the Dockerfile names Rust {rust_version}, this machine has {}; the builder gets this machine's",
            version.trim()
        ));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    let context = cache.join("builder-context");
    if context.exists() {
        std::fs::remove_dir_all(&context)?;
    }
    std::fs::create_dir_all(context.join("toolchain"))?;
    std::fs::create_dir_all(context.join("registry"))?;
    // Hard links where the file system allows, copies otherwise.
    let copy = |from: &Path, to: &Path| -> anyhow::Result<()> {
        let linked = Command::new("cp")
            .arg("-al")
            .arg(from)
            .arg(to)
            .stderr(Stdio::null())
            .status()?;
        if !linked.success() {
            ensure(Command::new("cp").arg("-a").arg(from).arg(to).status()?.success(), "cp")?;
        }
        Ok(())
    };
    for part in ["bin", "lib"] {
        copy(&Path::new(&sysroot).join(part), &context.join("toolchain"))?;
    }
    for part in ["index", "cache"] {
        copy(&cargo_home.join("registry").join(part), &context.join("registry"))?;
    }
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            r#"FROM {debian}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rustup/toolchains/local
COPY registry /usr/local/cargo-offline/registry
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo-offline CARGO_NET_OFFLINE=true \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION={rust_version}
RUN mkdir -p /usr/local/cargo/bin && ln -s /usr/local/rustup/toolchains/local/bin/* /usr/local/cargo/bin/ \
    && rustc --version && cargo --version
"#
        ),
    )?;
    step(&format!(
        "{name}: {debian} with {} and an offline cargo registry",
        version.trim()
    ));
    let label = format!("{LOCK_LABEL}={lock}");
    build(docker, &["-t", name, "--label", &label], &context)?;
    std::fs::remove_dir_all(&context)?;
    Ok(())
}

/// The label on the builder image naming the Cargo.lock its registry copy was made for.
const LOCK_LABEL: &str = "garm-rs.cargo-lock";

/// The SHA-256 of this checkout's Cargo.lock (`sha256sum`, coreutils).
fn lock_digest() -> anyhow::Result<String> {
    let out = Command::new("sha256sum").arg(root().join("Cargo.lock")).output()?;
    ensure(out.status.success(), "sha256sum Cargo.lock")?;
    let text = String::from_utf8(out.stdout)?;
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .context("sha256sum printed nothing")
}

/// A label of a local image, or `None` when the image or the label is missing.
fn image_label(docker: &str, image: &str, label: &str) -> Option<String> {
    let out = Command::new(docker)
        .args(["image", "inspect", "--format"])
        .arg(format!("{{{{ index .Config.Labels \"{label}\" }}}}"))
        .arg(image)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let value = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !value.is_empty() && value != "<no value>").then_some(value)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
