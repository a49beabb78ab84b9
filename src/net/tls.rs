//! TLS with rustls (no OpenSSL): the client configuration built from redis-benchmark's TLS flags,
//! certificate problems told in words, and a non-blocking TLS stream for a mio event loop.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, CipherSuite, ClientConfig, ClientConnection, DigitallySignedStruct,
};

/// The TLS flags (`--tls --sni --cacert --cacertdir --insecure --cert --key --tls-ciphers
/// --tls-ciphersuites`), or a profile target's `tls`, `cacert`, ... keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOptions {
    pub sni: Option<String>,
    pub cacert: Option<PathBuf>,
    pub cacertdir: Option<PathBuf>,
    pub insecure: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// TLS 1.2 suites, OpenSSL's `:`-separated names (or IANA's).
    pub ciphers: Option<String>,
    /// TLS 1.3 suites.
    pub ciphersuites: Option<String>,
}

/// A ready client configuration and the name certificates are checked against.
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    /// `--sni`, else the host name the target was given by (None: each node's IP address).
    name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .finish()
    }
}

impl TlsClient {
    /// The name to send as SNI and to verify: the configured one, else the node's IP address.
    pub fn server_name(&self, addr: SocketAddr) -> ServerName<'static> {
        self.name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}

/// Suites rustls offers, by OpenSSL's name and IANA's.
const SUITES: [(&str, CipherSuite); 9] = [
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

fn suite_named(name: &str) -> Option<CipherSuite> {
    SUITES.iter().find_map(|(openssl, s)| {
        let iana = format!("{s:?}").replace("TLS13_", "TLS_");
        (name.eq_ignore_ascii_case(openssl) || name.eq_ignore_ascii_case(&iana)).then_some(*s)
    })
}

/// Keeps the provider's suites of one TLS version to those `list` names (the other version's
/// suites stay, as OpenSSL's two lists work).
fn restrict(p: &mut CryptoProvider, list: &str, tls13: bool, flag: &str) -> Result<(), String> {
    let mut wanted = Vec::new();
    for name in list
        .split([':', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let known = SUITES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ");
        let s = suite_named(name).ok_or_else(|| {
            format!("{flag}: unknown or unsupported cipher `{name}` (rustls offers: {known})")
        })?;
        wanted.push(s);
    }
    let is13 = |s: &rustls::SupportedCipherSuite| s.tls13().is_some();
    p.cipher_suites
        .retain(|s| is13(s) != tls13 || wanted.contains(&s.suite()));
    if !p.cipher_suites.iter().any(|s| is13(s) == tls13) {
        return Err(format!(
            "{flag}: none of `{list}` is a TLS 1.{} suite",
            if tls13 { 3 } else { 2 }
        ));
    }
    Ok(())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect();
    let certs =
        certs.map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn roots(o: &TlsOptions) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, from: &Path| {
        for c in certs {
            store
                .add(c)
                .map_err(|e| format!("{}: unusable CA certificate: {e}", from.display()))?;
        }
        Ok::<(), String>(())
    };
    if let Some(f) = &o.cacert {
        add(read_certs(f)?, f)?;
    }
    if let Some(d) = &o.cacertdir {
        let entries =
            std::fs::read_dir(d).map_err(|e| format!("--cacertdir {}: {e}", d.display()))?;
        // OpenSSL's hashed links and any other PEM file: whatever parses is a CA.
        for e in entries.flatten() {
            if let Ok(certs) = read_certs(&e.path()) {
                add(certs, &e.path())?;
            }
        }
    }
    if o.cacert.is_none() && o.cacertdir.is_none() {
        // As OpenSSL's default verify paths: the system's trust store.
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = store.add(c);
        }
    }
    Ok(store)
}

/// Builds the client configuration; `host` is the name the target was given by (used for SNI and
/// verification unless `--sni` names another; an IP address is checked against IP SANs).
pub fn build(o: &TlsOptions, host: Option<&str>) -> Result<TlsClient, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(l) = &o.ciphers {
        restrict(&mut provider, l, false, "--tls-ciphers")?;
    }
    if let Some(l) = &o.ciphersuites {
        restrict(&mut provider, l, true, "--tls-ciphersuites")?;
    }
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        builder.with_root_certificates(roots(o)?)
    };
    let config = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("--key {}: no usable PEM private key: {e}", k.display()))?;
            builder
                .with_client_auth_cert(read_certs(c)?, key)
                .map_err(|e| format!("--cert/--key: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--cert and --key go together".into()),
    };
    let name = match o.sni.as_deref().or(host.filter(|h| is_name(h))) {
        Some(n) => Some(
            ServerName::try_from(n.to_string())
                .map_err(|_| format!("`{n}` is not a valid TLS server name"))?,
        ),
        None => None,
    };
    Ok(TlsClient {
        config: Arc::new(config),
        name,
    })
}

/// A DNS name, not an address literal (those are verified against the node's own IP).
fn is_name(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_err()
}

/// `--insecure`: any certificate is accepted, but handshake signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS failure in words a user can act on.
pub fn words(e: &rustls::Error) -> String {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "TLS: the server's certificate is not signed by a CA rbench trusts (pass --cacert FILE, or --insecure to skip the check)".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!("TLS: the server's certificate is not valid for the name rbench checked ({}): connect by a name it lists, or pass --sni NAME", name_of(c)),
            C::Expired | C::ExpiredContext { .. } => "TLS: the server's certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "TLS: the server's certificate is not valid yet (check the clocks)".into(),
            C::Revoked => "TLS: the server's certificate is revoked".into(),
            other => format!("TLS: the server's certificate is unusable: {other:?}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "TLS: the server does not speak TLS (its answer is not a TLS record): drop --tls, or use its tls-port".into()
        }
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            "TLS: the server requires a client certificate: pass --cert FILE --key FILE".into()
        }
        rustls::Error::AlertReceived(
            rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::BadCertificate
            // OpenSSL's word when a CA of the same name did not sign it.
            | rustls::AlertDescription::DecryptError,
        ) => "TLS: the server rejected rbench's client certificate (--cert): is it signed by a CA the server trusts (its tls-ca-cert-file)?".into(),
        rustls::Error::AlertReceived(a) => format!(
            "TLS: the server refused the handshake ({a:?}): it may require a client certificate (--cert/--key) or other ciphers"
        ),
        rustls::Error::NoCertificatesPresented => "TLS: the server presented no certificate".into(),
        other => format!("TLS: {other}"),
    }
}

fn name_of(c: &CertificateError) -> String {
    match c {
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                ServerName::DnsName(d) => d.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            format!("{expected}; it lists {}", presented.join(", "))
        }
        _ => "the host or --sni".into(),
    }
}

/// A TLS failure in rbench's words, carried inside an io::Error so transports keep io's
/// signatures; [`failure_words`] finds it again, by type rather than by its text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsFailure(String);

fn failure(kind: io::ErrorKind, words: String) -> io::Error {
    io::Error::new(kind, TlsFailure(words))
}

/// The TLS words of an io error from a TLS stream (rbench's own, or rustls' as tokio-rustls
/// passes it on); None for any other error.
pub fn failure_words(e: &io::Error) -> Option<String> {
    let inner = e.get_ref()?;
    if let Some(f) = inner.downcast_ref::<TlsFailure>() {
        return Some(f.0.clone());
    }
    inner.downcast_ref::<rustls::Error>().map(words)
}

/// A failed TLS connect or handshake (tokio-rustls), as an io::Error carrying [`words`]; an EOF
/// in the handshake is a plain port's silence broken, or a server that dropped us.
pub fn explain(e: io::Error) -> io::Error {
    match failure_words(&e) {
        Some(w) => failure(io::ErrorKind::InvalidData, w),
        None if e.kind() == io::ErrorKind::UnexpectedEof => failure(
            io::ErrorKind::UnexpectedEof,
            "TLS: the server closed the connection during the handshake (is it a TLS port?)".into(),
        ),
        None => e,
    }
}

fn fail(e: rustls::Error) -> io::Error {
    failure(io::ErrorKind::InvalidData, words(&e))
}

/// TLS over a non-blocking mio socket. Reads fill the caller's buffer until it is full or the
/// socket is drained, so the edge-triggered loop's "short read means drained" still holds; TLS
/// bytes the socket did not take wait in rustls until `flush` (called on writable events).
pub struct TlsStream {
    tcp: mio::net::TcpStream,
    tls: ClientConnection,
}

impl TlsStream {
    pub fn new(tcp: mio::net::TcpStream, c: &TlsClient, addr: SocketAddr) -> io::Result<Self> {
        let tls = ClientConnection::new(c.config.clone(), c.server_name(addr)).map_err(fail)?;
        Ok(TlsStream { tcp, tls })
    }

    pub fn tcp(&self) -> &mio::net::TcpStream {
        &self.tcp
    }

    pub fn tcp_mut(&mut self) -> &mut mio::net::TcpStream {
        &mut self.tcp
    }

    pub fn handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Writes the TLS bytes rustls holds; WouldBlock when the socket is full.
    fn push(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.tls.reader().read(&mut buf[n..]) {
                Ok(0) => return Ok(n), // close_notify
                Ok(k) => {
                    n += k;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) if n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(n),
                Ok(_) => {
                    self.tls.process_new_packets().map_err(fail)?;
                    // Handshake answers (and key updates) go out at once.
                    match self.push() {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                        _ => {}
                    }
                }
                Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => return Ok(n),
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Older TLS bytes first: taking more while the socket is full would only grow rustls's
        // buffer; the caller keeps its bytes and waits for writable.
        self.push()?;
        let n = self.tls.writer().write(buf)?;
        match self.push() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.push() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }
}
