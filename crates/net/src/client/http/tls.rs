//! TLS for the HTTP client, with the system's root certificates read on the first certificate
//! that needs them, not when the client is built.
//!
//! Reading the system store costs ~5 ms and ~180 file opens (`/etc/ssl/certs/*`), which every
//! command paid even against a plain `http://127.0.0.1` registry. Here the client's rustls
//! configuration carries a verifier ([`LazyRootsVerifier`]) that builds the real WebPKI verifier
//! (system roots plus `cafile`) the first time a server presents a certificate. The system store
//! is read once per process ([`native_roots`]); [`preload_native_roots`] starts that read on a
//! thread when the first https request is made, so it overlaps the DNS lookup and TCP connect.
//! A `cafile` is read at the same moment, not before: npm's configuration often names the
//! system bundle (hundreds of certificates, a few milliseconds to parse) for every command.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::NetError;
use crate::config::RegistryConfig;

/// The system's root certificates: parsed, or why none could be used (no certificate is not an
/// error by itself: a `cafile` may provide them).
struct NativeRoots {
    store: Arc<RootCertStore>,
    /// What went wrong reading the system store, for the error when no root is left at all.
    problems: Vec<String>,
}

static NATIVE_ROOTS: OnceLock<NativeRoots> = OnceLock::new();
static NATIVE_ROOTS_READ: AtomicBool = AtomicBool::new(false);

/// The system roots, read on first use and kept for the process.
fn native_roots() -> &'static NativeRoots {
    NATIVE_ROOTS.get_or_init(|| {
        NATIVE_ROOTS_READ.store(true, Ordering::SeqCst);
        let loaded = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        // Native stores often hold a few certificates webpki cannot parse: skip those.
        let (_added, _skipped) = store.add_parsable_certificates(loaded.certs);
        NativeRoots {
            store: Arc::new(store),
            problems: loaded.errors.iter().map(ToString::to_string).collect(),
        }
    })
}

/// Starts reading the system roots on a thread of its own, once per process, so the first TLS
/// handshake finds them ready.
pub(crate) fn preload_native_roots() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if NATIVE_ROOTS.get().is_some() || STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("dx-tls-roots".into())
        .spawn(|| {
            native_roots();
        });
    // Without a thread the first handshake reads them itself.
    drop(spawned);
}

/// Whether this process has read the system's root certificates (for tests: a plain-http
/// registry must never make it true).
#[cfg(any(test, feature = "test-support"))]
pub fn native_roots_loaded() -> bool {
    NATIVE_ROOTS_READ.load(Ordering::SeqCst)
}

/// The rustls configuration for `config`: TLS 1.2 and 1.3 on ring, ALPN offering HTTP/2 then
/// HTTP/1.1, certificates checked against the system roots and `cafile` (loaded on first use),
/// or not at all when `strict-ssl` is off.
pub(crate) fn client_config(config: &RegistryConfig) -> Result<rustls::ClientConfig, NetError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if config.strict_ssl {
        Arc::new(LazyRootsVerifier::new(
            provider.clone(),
            config.cafile.clone(),
        ))
    } else {
        Arc::new(AcceptAnyCertificate(provider.clone()))
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::ClientSetup(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The certificates of `cafile` (npm adds them to the system's, and so does dx).
fn extra_roots(cafile: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(cafile)
        .map_err(|e| format!("cannot read cafile `{}`: {e}", cafile.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cafile `{}`: {e}", cafile.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "cafile `{}` holds no PEM certificate",
            cafile.display()
        ));
    }
    Ok(certificates)
}

/// Verifies like rustls's WebPKI verifier, which it builds (system roots plus `cafile`) on the
/// first certificate it is asked about.
pub(crate) struct LazyRootsVerifier {
    provider: Arc<CryptoProvider>,
    /// `cafile`: read with the system roots, on the first certificate.
    cafile: Option<PathBuf>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl fmt::Debug for LazyRootsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRootsVerifier")
            .field("cafile", &self.cafile)
            .field("built", &self.verifier.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LazyRootsVerifier {
    fn new(provider: Arc<CryptoProvider>, cafile: Option<PathBuf>) -> Self {
        Self {
            provider,
            cafile,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&WebPkiServerVerifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                let native = native_roots();
                let mut roots = RootCertStore::clone(&native.store);
                let extra = match &self.cafile {
                    Some(cafile) => extra_roots(cafile)?,
                    None => Vec::new(),
                };
                for certificate in extra {
                    roots
                        .add(certificate)
                        .map_err(|e| format!("a cafile certificate is unusable: {e}"))?;
                }
                if roots.is_empty() {
                    let why = if native.problems.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", native.problems.join("; "))
                    };
                    return Err(format!(
                        "no trusted root certificate: the system store gave none{why}; \
                         set `cafile` in .npmrc"
                    ));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| format!("cannot verify certificates: {e}"))
            })
            .as_deref()
            .map_err(|e| rustls::Error::General(e.clone()))
    }
}

impl ServerCertVerifier for LazyRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `strict-ssl=false`: any certificate is accepted, as npm (and reqwest's
/// `danger_accept_invalid_certs`) do.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
