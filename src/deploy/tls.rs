//! Throwaway certificates for spawned TLS deployments: a CA and one server certificate (for
//! `localhost`, 127.0.0.1 and ::1) made with rcgen in the deployment's temp dir, gone with it.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::DeployError;

/// Where the PEM files are.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// redis-server's flags for a TLS port (plus TLS on the cluster bus and replication links,
    /// so a TLS cluster is TLS end to end).
    pub fn server_args(&self, tls_port: u16, cluster: bool) -> Vec<String> {
        let mut a = vec![
            "--tls-port".to_string(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            self.cert.display().to_string(),
            "--tls-key-file".into(),
            self.key.display().to_string(),
            "--tls-ca-cert-file".into(),
            self.ca.display().to_string(),
            // Clients may bring a certificate (--cert/--key) but need not.
            "--tls-auth-clients".into(),
            "optional".into(),
        ];
        if cluster {
            a.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        }
        a
    }
}

fn gen_err(e: rcgen::Error) -> DeployError {
    DeployError::InvalidSpec(format!("cannot make TLS certificates: {e}"))
}

/// Makes `dir`, a CA and a server certificate signed by it.
pub fn make(dir: &Path) -> Result<TlsFiles, DeployError> {
    fs::create_dir(dir).map_err(|e| DeployError::io(format!("creating {}", dir.display()), e))?;
    let ca_key = KeyPair::generate().map_err(gen_err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rbench throwaway CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(gen_err)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(gen_err)?;
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let mut server = CertificateParams::new(names).map_err(gen_err)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = server.signed_by(&key, &issuer).map_err(gen_err)?;
    let files = TlsFiles {
        ca: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    for (path, pem) in [
        (&files.ca, ca_cert.pem()),
        (&files.cert, cert.pem()),
        (&files.key, key.serialize_pem()),
    ] {
        fs::write(path, pem)
            .map_err(|e| DeployError::io(format!("writing {}", path.display()), e))?;
    }
    Ok(files)
}
