//! `garm-attest`: the instance's side of attestation. It asks garm for a nonce, gathers
//! the evidence (the HCL report from the vTPM, a vTPM quote over the nonce, the VCEK
//! chain from Azure's instance metadata service) and posts it to garm, before the install
//! script asks for its runner credentials.

use base64::Engine;
use clap::Parser;
use garm_attest::{Evidence, WireQuote};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "garm-attest",
    about = "Prove to garm that this machine is an Azure SEV-SNP confidential VM"
)]
struct Args {
    /// garm's metadata URL (`…/api/v1/metadata`), as the install script has it.
    #[arg(long, env = "GARM_METADATA_URL")]
    metadata_url: String,
    /// The instance token (without `Bearer `).
    #[arg(long, env = "GARM_INSTANCE_TOKEN", hide_env_values = true)]
    token: String,
    /// Post captured evidence from this file instead of reading the vTPM (tests and
    /// simulated runners; garm refuses it unless its nonce matches the captured one).
    #[arg(long)]
    replay: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("garm-attest: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// How many times a round (nonce, evidence, post) is tried when garm answers 503: it could
/// not reach the instance's provider to match the VM, and recorded no verdict.
const ROUNDS: u32 = 5;

fn run(args: &Args) -> anyhow::Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut round = 1;
    loop {
        match attempt(args, &agent)? {
            Round::Done(summary) => return Ok(summary),
            Round::TryAgain(said) if round < ROUNDS => {
                eprintln!("garm-attest: garm could not decide yet (round {round} of {ROUNDS}): {said}");
                std::thread::sleep(std::time::Duration::from_secs(2 * u64::from(round)));
                round += 1;
            }
            Round::TryAgain(said) => anyhow::bail!("garm could not decide after {ROUNDS} rounds: {said}"),
        }
    }
}

enum Round {
    Done(String),
    /// 503: nothing was recorded and the nonce is spent; a new round starts over.
    TryAgain(Value),
}

fn attempt(args: &Args, agent: &ureq::Agent) -> anyhow::Result<Round> {
    let base = args.metadata_url.trim_end_matches('/');
    let auth = format!("Bearer {}", args.token);
    let mut response = agent
        .get(format!("{base}/attestation/nonce"))
        .header("Authorization", &auth)
        .call()?;
    let body: Value = response.body_mut().read_json()?;
    if !response.status().is_success() {
        anyhow::bail!("garm refused a nonce ({}): {body}", response.status());
    }
    let nonce_hex = body["nonce"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("garm's nonce answer has no nonce: {body}"))?;
    let nonce = hex::decode(nonce_hex)?;

    let evidence = match &args.replay {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
            Evidence::from_json(&text)?
        }
        None => gather(&nonce)?,
    };

    let mut response = agent
        .post(format!("{base}/attestation/evidence"))
        .header("Authorization", &auth)
        .send_json(&evidence)?;
    let verdict: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if response.status() == 503 {
        return Ok(Round::TryAgain(verdict));
    }
    if !response.status().is_success() {
        anyhow::bail!("garm refused the evidence ({}): {verdict}", response.status());
    }
    Ok(Round::Done(format!(
        "attestation accepted: {}",
        verdict.get("detail").and_then(Value::as_str).unwrap_or("ok")
    )))
}

/// Reads the evidence on an Azure confidential VM: needs `/dev/tpmrm0` and the instance
/// metadata service.
fn gather(nonce: &[u8]) -> anyhow::Result<Evidence> {
    use az_snp_vtpm::{imds, vtpm};
    let report = vtpm::get_report().map_err(|err| anyhow::anyhow!("reading the HCL report from the vTPM: {err}"))?;
    let quote = vtpm::get_quote(nonce).map_err(|err| anyhow::anyhow!("making the vTPM quote: {err}"))?;
    let certs = imds::get_certs().map_err(|err| anyhow::anyhow!("fetching the VCEK from IMDS: {err}"))?;
    Ok(Evidence {
        hcl_report: base64::engine::general_purpose::STANDARD.encode(report),
        quote: WireQuote {
            signature: hex::encode(quote.signature()),
            message: hex::encode(quote.message()),
            pcrs: quote.pcrs_sha256().map(hex::encode).collect(),
        },
        vcek: certs.vcek,
        cert_chain: certs.amd_chain,
    })
}
