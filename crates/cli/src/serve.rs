//! `vnetlab serve`: the ARM REST API over HTTPS, on the lab the other commands use; and
//! `vnetlab az-env`: the environment that points the real `az` CLI at it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use vnetlab_api::{App, LroMode, Options, tls};
use vnetlab_control::Lab;
use vnetlab_engine::Provisioning;

use crate::{Failure, Result};

/// The address the server listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Lro {
    /// Writes complete before they answer
    Sync,
    /// Writes answer at once, `Updating`, and complete through Azure-AsyncOperation polling
    Async,
}

/// The host clients use to reach `listen`.
fn public_host(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() { format!("127.0.0.1:{}", listen.port()) } else { listen.to_string() }
}

/// Shell lines that point `az` (and the Python SDK) at the server.
pub fn environment(home: &Path, listen: SocketAddr) -> String {
    let url = format!("https://{}", public_host(listen));
    let ca = tls::TlsFiles::in_home(home).ca_path();
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    [
        format!("export AZURE_CONFIG_DIR={}", quote(&home.join("az"))),
        format!("export REQUESTS_CA_BUNDLE={}", quote(&ca)),
        format!("export IDENTITY_ENDPOINT={url}/msi/token"),
        "export IDENTITY_HEADER=vnetlab".to_owned(),
        "export AZURE_CORE_COLLECT_TELEMETRY=false".to_owned(),
        "export AZURE_CORE_INSTANCE_DISCOVERY=false".to_owned(),
    ]
    .join("\n")
}

/// The az commands that register the server as a cloud and log in.
pub fn login_commands(listen: SocketAddr) -> String {
    let url = format!("https://{}", public_host(listen));
    [
        format!("az cloud show -n vnetlab >/dev/null 2>&1 || az cloud register -n vnetlab --endpoint-resource-manager {url}/"),
        "az cloud set -n vnetlab".to_owned(),
        "az login --identity --output none".to_owned(),
    ]
    .join("\n")
}

pub fn az_env(home: &Path, listen: SocketAddr) -> Result<()> {
    println!("{}", environment(home, listen));
    println!("# then: {}", login_commands(listen).replace('\n', "; "));
    Ok(())
}

pub fn serve(home: &Path, listen: SocketAddr, lro: Lro, page_size: usize, dataplane: bool) -> Result<()> {
    let lab = Lab::open_adjusted(home, |settings| {
        settings.management_endpoint = format!("https://{}", public_host(listen));
        if matches!(lro, Lro::Async) {
            settings.provisioning = Provisioning::Deferred;
        }
    })?;
    let config = vnetlab_control::Config::load(home).map_err(|e| Failure::Other(e.into()))?;
    crate::principal::apply_config(&lab, &config, home)?;
    let certificate = tls::TlsFiles::in_home(home)
        .load_or_create(&tls::names_for(listen.ip()))
        .map_err(|e| Failure::Other(e.into()))?;
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr().context("cannot read the listening address")?;
    let options = Options {
        lro: match lro {
            Lro::Sync => LroMode::Sync,
            Lro::Async => LroMode::Async,
        },
        page_size: page_size.max(1),
        // Real probes for the connectivity check whenever the data plane is up for this lab (it
        // may be brought up or down while the server runs).
        prober: Some(Arc::new(crate::dataplane::LabProber::new(home))),
        signing_key: Arc::new(
            vnetlab_control::tokens::SigningKey::load_or_create(home).map_err(|e| Failure::Other(e.into()))?,
        ),
        ..Options::default()
    };
    if dataplane {
        let report = crate::dataplane::start(home, &lab)?;
        println!("data plane: {report}; it follows every change: `vnetlab exec VM -- CMD` runs a command in a VM.\n");
    }
    let app = Arc::new(App::new(lab, options));
    println!("vnetlab serves the ARM API at https://{} (lab: {})", public_host(bound), home.display());
    println!("The portal: https://{}/", public_host(bound));
    println!("Point az at it:\n");
    println!("{}", environment(home, bound));
    println!("{}\n", login_commands(bound));
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime
        .block_on(vnetlab_api::serve(app, listener, &certificate, async {
            let _ = tokio::signal::ctrl_c().await;
        }))
        .context("the server stopped")?;
    Ok(())
}
