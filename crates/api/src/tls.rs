//! The server's certificate: a local certificate authority made on first start and kept in the
//! lab's home, and a server certificate it signs for the names the server answers on. Clients
//! trust the authority (`REQUESTS_CA_BUNDLE=<home>/tls/ca.pem` for az and the Python SDK).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Where the certificate files live, under the lab's home.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
}

/// A certificate ready to serve: the chain (server certificate, then the authority) and its key.
#[derive(Debug, Clone)]
pub struct ServerCertificate {
    pub chain_pem: String,
    pub key_pem: String,
    /// The authority clients trust.
    pub ca_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {action} {path}: {message}")]
    File { action: &'static str, path: String, message: String },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
}

const CA_NAME: &str = "vnetlab local certificate authority";

impl TlsFiles {
    pub fn in_home(home: &Path) -> TlsFiles {
        TlsFiles { dir: home.join("tls") }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate for `names` (DNS names and IP addresses), signed by the lab's
    /// authority. The authority is made once; the server certificate is made again when the names
    /// change.
    pub fn load_or_create(&self, names: &[String]) -> Result<ServerCertificate, TlsError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| file_error("create", &self.dir, e))?;
        let (ca_pem, ca_key) = self.authority()?;
        let (cert_path, key_path, names_path) =
            (self.dir.join("server.pem"), self.dir.join("server-key.pem"), self.dir.join("server-names.txt"));
        let wanted = names.join("\n");
        let current = std::fs::read_to_string(&names_path).ok();
        let existing = (std::fs::read_to_string(&cert_path).ok(), std::fs::read_to_string(&key_path).ok());
        let (cert_pem, key_pem) = match existing {
            (Some(cert), Some(key)) if current.as_deref() == Some(wanted.as_str()) => (cert, key),
            _ => {
                let key = KeyPair::generate().map_err(generate_error)?;
                let mut params = CertificateParams::new(names.to_vec()).map_err(generate_error)?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("vnetlab"));
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
                params.use_authority_key_identifier_extension = true;
                let issuer = Issuer::new(authority_params()?, ca_key);
                let cert = params.signed_by(&key, &issuer).map_err(generate_error)?;
                write_private(&key_path, &key.serialize_pem())?;
                write_public(&cert_path, &cert.pem())?;
                write_public(&names_path, &wanted)?;
                (cert.pem(), key.serialize_pem())
            }
        };
        Ok(ServerCertificate { chain_pem: format!("{cert_pem}{ca_pem}"), key_pem, ca_path: self.ca_path() })
    }

    /// The authority's certificate and key, made on first use.
    fn authority(&self) -> Result<(String, KeyPair), TlsError> {
        let (cert_path, key_path) = (self.ca_path(), self.dir.join("ca-key.pem"));
        if let (Ok(cert), Ok(key)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
            let key = KeyPair::from_pem(&key).map_err(generate_error)?;
            return Ok((cert, key));
        }
        let key = KeyPair::generate().map_err(generate_error)?;
        let cert = authority_params()?.self_signed(&key).map_err(generate_error)?;
        write_private(&key_path, &key.serialize_pem())?;
        write_public(&cert_path, &cert.pem())?;
        Ok((cert.pem(), key))
    }
}

/// The authority's parameters. They are the same every time, so a stored authority key signs new
/// server certificates under the same issuer name.
fn authority_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error)?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// The names a server certificate covers: localhost and the loopback addresses, and the address
/// the server listens on when it is a particular one.
pub fn names_for(listen: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let own = listen.to_string();
    if !listen.is_unspecified() && !names.contains(&own) {
        names.push(own);
    }
    names
}

fn generate_error(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

fn file_error(action: &'static str, path: &Path, e: std::io::Error) -> TlsError {
    TlsError::File { action, path: path.display().to_string(), message: e.to_string() }
}

fn write_public(path: &Path, text: &str) -> Result<(), TlsError> {
    std::fs::write(path, text).map_err(|e| file_error("write", path, e))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error("write", path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| file_error("write", path, e))
}
