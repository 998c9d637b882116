//! SIP over TLS (RFC 3261 §26.2, RFC 5630): the rustls configurations of the shell's TLS
//! listener and of the connections it opens to trunks, built from PEM files. Nothing here
//! touches a socket; [`crate::shell`] runs the handshakes (docs/decisions/0021).
//!
//! Verification is on unless a trunk is exempted by name: a trunk's certificate must chain to
//! a trusted CA (a CA file, else the system's roots) and name the host dialled — its IP
//! address (an IP address SAN), or the name set for it with [`TlsConfig::with_peer`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
pub use rustls::RootCertStore;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};

/// Every certificate of a PEM file: a chain (ours first, then its intermediates) or a CA
/// bundle. The message names the file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM: {}", path.display(), pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (a PEM `BEGIN CERTIFICATE` block)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1). The message names the file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = read(path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{}: no private key in it (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE \
             KEY` block)",
            path.display()
        ),
        e => format!("{}: bad PEM: {}", path.display(), pem_error(&e)),
    })
}

/// The CA certificates of a PEM bundle, as trust anchors. The message names the file.
pub fn read_ca_file(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in read_certificates(path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "{}: certificate {} is not a usable CA certificate: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok(roots)
}

/// The operating system's trusted CAs (e.g. `/etc/ssl/certs`). An error when none is found.
pub fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(String::new, |e| format!(" ({e})"));
        return Err(format!(
            "no CA certificate found in the system's store{why}"
        ));
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// What [`TlsConfig::new`] is built from.
#[derive(Debug)]
pub struct TlsSettings {
    /// Our certificate chain (ours first) and its private key: needed to listen, and shown
    /// to a trunk that asks for a client certificate. `None`: outbound TLS only.
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// The CAs a trunk's certificate must chain to.
    pub trust: RootCertStore,
    /// `Some`: a peer connecting to our listener must present a certificate chaining to one
    /// of these (mutual TLS, e.g. for carriers). `None`: no client certificate is asked for.
    pub client_cas: Option<RootCertStore>,
}

/// Why [`TlsConfig::new`] refused its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    /// The private key is not usable or does not belong to the certificate.
    #[error("the private key does not fit the certificate: {0}")]
    Identity(String),
    /// The client CAs cannot be used to verify certificates (e.g. none at all).
    #[error("the client CAs cannot verify certificates: {0}")]
    ClientCas(String),
}

/// How the certificate of the trunk at one address is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCheck {
    /// Chain to a trusted CA and name this host (instead of the IP address dialled).
    Name(ServerName<'static>),
    /// Not verified at all: anyone on the path can pose as the trunk. Only for a trunk whose
    /// operator has said so in the configuration.
    Unverified,
}

/// The TLS side of the shell: the listener's configuration (if any) and those of outbound
/// connections, verified and, for exempted trunks, unverified.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    server: Option<Arc<ServerConfig>>,
    client: Arc<ClientConfig>,
    unverified: Arc<ClientConfig>,
    peers: HashMap<SocketAddr, PeerCheck>,
}

impl TlsConfig {
    /// Build the configurations (ring provider, TLS 1.2 and 1.3). Fails when the key does
    /// not fit the certificate or the client CAs cannot verify anything.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = |e: rustls::Error| TlsConfigError::Identity(e.to_string());
        let trust = Arc::new(settings.trust);
        let verified = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .with_root_certificates(trust);
        let unverified = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(
                provider.signature_verification_algorithms,
            )));
        let (client, unverified) = match &settings.identity {
            Some((chain, key)) => (
                verified
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .map_err(|e| TlsConfigError::Identity(e.to_string()))?,
                unverified
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .map_err(|e| TlsConfigError::Identity(e.to_string()))?,
            ),
            None => (
                verified.with_no_client_auth(),
                unverified.with_no_client_auth(),
            ),
        };
        let server = match settings.identity {
            None => None,
            Some((chain, key)) => {
                let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
                    .with_safe_default_protocol_versions()
                    .map_err(versions)?;
                let builder = match settings.client_cas {
                    None => builder.with_no_client_auth(),
                    Some(cas) => builder.with_client_cert_verifier(
                        WebPkiClientVerifier::builder_with_provider(Arc::new(cas), provider)
                            .build()
                            .map_err(|e| TlsConfigError::ClientCas(e.to_string()))?,
                    ),
                };
                let server = builder
                    .with_single_cert(chain, key)
                    .map_err(|e| TlsConfigError::Identity(e.to_string()))?;
                Some(Arc::new(server))
            }
        };
        Ok(Self {
            server,
            client: Arc::new(client),
            unverified: Arc::new(unverified),
            peers: HashMap::new(),
        })
    }

    /// Check the trunk at `addr` by `check` rather than by its IP address.
    #[must_use]
    pub fn with_peer(mut self, addr: SocketAddr, check: PeerCheck) -> Self {
        self.peers.insert(addr, check);
        self
    }

    /// Whether we have a certificate to listen with.
    pub fn can_listen(&self) -> bool {
        self.server.is_some()
    }

    /// The listener's configuration; `None` without our certificate.
    pub(crate) fn server(&self) -> Option<Arc<ServerConfig>> {
        self.server.clone()
    }

    /// The configuration and the name to verify for a connection to `addr`.
    pub(crate) fn client_for(&self, addr: SocketAddr) -> (Arc<ClientConfig>, ServerName<'static>) {
        let by_ip = ServerName::IpAddress(addr.ip().into());
        match self.peers.get(&addr) {
            Some(PeerCheck::Name(name)) => (Arc::clone(&self.client), name.clone()),
            // The name is not checked; it only has to be a valid ServerName.
            Some(PeerCheck::Unverified) => (Arc::clone(&self.unverified), by_ip),
            None => (Arc::clone(&self.client), by_ip),
        }
    }
}

/// A host name or IP address a certificate must carry, e.g. `sbc.example.org`.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| format!("{name:?} is neither a DNS name nor an IP address"))
}

/// Accepts any certificate, still checking that the handshake is signed by its key (so the
/// connection is encrypted, though not to anyone in particular).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sip-gateway-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn identity(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn files_that_are_missing_or_hold_no_pem_are_named_in_the_error() {
        let d = dir("files");
        let missing = d.join("missing.pem");
        let e = read_certificates(&missing).expect_err("missing");
        assert!(
            e.starts_with("cannot read ") && e.contains("missing.pem"),
            "{e}"
        );
        let empty = d.join("empty.pem");
        std::fs::write(&empty, "not pem\n").expect("write");
        let e = read_certificates(&empty).expect_err("empty");
        assert!(e.contains("empty.pem: no certificate"), "{e}");
        let e = read_private_key(&empty).expect_err("no key");
        assert!(e.contains("empty.pem: no private key"), "{e}");
        let (cert, key) = identity("a.example");
        let (c, k) = (d.join("c.pem"), d.join("k.pem"));
        std::fs::write(&c, &cert).expect("write");
        std::fs::write(&k, &key).expect("write");
        assert_eq!(read_certificates(&c).expect("cert").len(), 1);
        assert!(read_private_key(&k).is_ok());
        assert!(read_private_key(&c).is_err(), "a certificate is no key");
        assert_eq!(read_ca_file(&c).expect("ca").len(), 1);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _) = identity("a.example");
        let (_, other_key) = identity("b.example");
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(other_key.as_bytes()).expect("key");
        let e = TlsConfig::new(TlsSettings {
            identity: Some((chain, key)),
            trust: RootCertStore::empty(),
            client_cas: None,
        })
        .expect_err("mismatch");
        assert!(matches!(e, TlsConfigError::Identity(_)), "{e}");
    }

    #[test]
    fn trunks_are_checked_by_ip_unless_named_or_exempted() {
        let config = TlsConfig::new(TlsSettings {
            identity: None,
            trust: RootCertStore::empty(),
            client_cas: None,
        })
        .expect("config");
        assert!(!config.can_listen());
        let a: SocketAddr = "10.0.0.1:5061".parse().expect("addr");
        let b: SocketAddr = "10.0.0.2:5061".parse().expect("addr");
        let c: SocketAddr = "10.0.0.3:5061".parse().expect("addr");
        let config = config
            .with_peer(
                b,
                PeerCheck::Name(server_name("sbc.example.org").expect("name")),
            )
            .with_peer(c, PeerCheck::Unverified);
        let (verified, name) = config.client_for(a);
        assert_eq!(name, ServerName::IpAddress(a.ip().into()));
        assert!(Arc::ptr_eq(&verified, &config.client));
        let (_, name) = config.client_for(b);
        assert_eq!(name, server_name("sbc.example.org").expect("name"));
        let (unverified, _) = config.client_for(c);
        assert!(Arc::ptr_eq(&unverified, &config.unverified));
        assert!(server_name("bad name!").is_err());
    }
}
