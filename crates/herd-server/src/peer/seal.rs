//! Sealing a link: TLS 1.3 (rustls on the ring provider) around every connection between
//! servers, with the HERD1 handshake spoken inside it.
//!
//! A server authenticates its neighbours one of two ways, both over TLS:
//! - **Shared secret**: each process makes a throw-away self-signed certificate that nobody
//!   checks by chain. Authentication comes from the handshake's HMACs, which cover the TLS
//!   session's exporter value (RFC 5705/8446 `export_keying_material`, the idea of RFC 9266's
//!   channel binding): a proof is only good inside the session it was made in. A man in the
//!   middle must terminate TLS on both sides itself, so it holds two sessions with two
//!   different exporters, and any proof it relays fails on the other side. Without a secret
//!   (loopback-only herds, `insecure_links = true`) the same sealing runs with no proof at
//!   all: it stops anyone reading the links, not anyone joining them.
//! - **Herd CA**: mutual TLS with certificates from the herd's own CA. Each certificate names
//!   its server (a DNS SAN); the dialer checks that the acceptor's certificate names the
//!   neighbour it dialed, and the acceptor that the dialer's certificate names the server its
//!   HELLO claims. A secret, if also set, is proved as well.
//!
//! After the handshake, tokio-rustls hands back the socket and the rustls connection, and a
//! link runs on [`SealedRead`] and [`SealedWrite`], which work on rustls's buffers directly:
//! the write half encrypts and writes with the socket's non-blocking `try_write`, so a record
//! sent on an idle link still goes out in the sender's own task (see `link`). The two halves
//! share the rustls connection under a std mutex that is never held across an `.await`.

use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::handshake::{self, HandshakeError};
use super::transport::{BoxFuture, ReadHalf, Stream, WriteHalf};

/// The label of the exporter value the handshake's MACs bind to.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-herd-link-v1";
/// The name a dialer asks for when certificates are not checked by name (secret mode).
const ANY_SERVER: &str = "herd";
/// Bytes of TLS records a write half holds for a socket that is full; beyond, writes wait.
const SEND_BUFFER: usize = 256 * 1024;
/// Bytes a read half reads from the socket at a time.
const READ_CHUNK: usize = 32 * 1024;

/// Why sealing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// rustls refused the material (a key that does not match, a CA that is not a CA...).
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    /// The CA certificates could not make a verifier.
    #[error("{0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A throw-away certificate could not be made.
    #[error("making a certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

/// The certificates of the herd CA mode: the CAs trusted (several while one is replaced),
/// and this side's certificate chain and key.
pub struct CaMaterial {
    /// The CA certificates a peer's certificate may chain to.
    pub roots: Vec<CertificateDer<'static>>,
    /// This server's certificate (then any intermediates).
    pub chain: Vec<CertificateDer<'static>>,
    /// This server's private key.
    pub key: PrivateKeyDer<'static>,
}

/// What one side of a sealed link needs: TLS configs both ways and the secrets it proves.
pub struct Seal {
    /// For dialing a named neighbour.
    client: Arc<ClientConfig>,
    /// For dialing a server whose name is not known (`herd dump HOST:PORT`).
    client_any_name: Arc<ClientConfig>,
    /// For accepting.
    server: Arc<ServerConfig>,
    /// The shared secrets, current first (none, one, or current and previous).
    secrets: Vec<Vec<u8>>,
    /// Whether certificates come from the herd CA and name their server.
    ca: bool,
}

/// How a server's links are sealed: TLS (every link over TCP), or not at all (the
/// simulation's in-memory links), with the secrets proved either way.
pub enum Sealing {
    /// No TLS: the HERD1 handshake in clear, its MACs bound to nothing.
    Plain(Vec<Vec<u8>>),
    /// TLS 1.3, the handshake inside it and bound to it.
    Tls(Seal),
}

impl Sealing {
    /// The secrets proved and accepted, current first.
    pub fn secrets(&self) -> Vec<&[u8]> {
        match self {
            Sealing::Plain(s) => s.iter().map(Vec::as_slice).collect(),
            Sealing::Tls(seal) => seal.secrets(),
        }
    }

    /// Whether anything authenticates a neighbour (a secret or the herd CA).
    pub fn authenticates(&self) -> bool {
        match self {
            Sealing::Plain(s) => !s.is_empty(),
            Sealing::Tls(seal) => seal.authenticates(),
        }
    }

    /// Whether links are encrypted.
    pub fn is_sealed(&self) -> bool {
        matches!(self, Sealing::Tls(_))
    }

    /// Runs the dialer's side on a fresh connection: see [`Seal::dial`].
    ///
    /// # Errors
    /// As [`Seal::dial`].
    pub async fn dial(
        &self,
        mut stream: Box<dyn Stream>,
        me: &str,
        them: &str,
    ) -> Result<(Box<dyn Stream>, BytesMut), HandshakeError> {
        match self {
            Sealing::Plain(_) => {
                let buf = handshake::dial(&mut stream, me, them, &self.secrets(), &[]).await?;
                Ok((stream, buf))
            }
            Sealing::Tls(seal) => seal.dial(stream, me, them).await,
        }
    }

    /// Opens the acceptor's side of the seal: see [`Seal::accept`].
    ///
    /// # Errors
    /// As [`Seal::accept`].
    pub async fn accept(
        &self,
        stream: Box<dyn Stream>,
    ) -> Result<(Box<dyn Stream>, Session), HandshakeError> {
        match self {
            Sealing::Plain(_) => Ok((stream, Session::plain())),
            Sealing::Tls(seal) => seal.accept(stream).await,
        }
    }

    /// Whether the dialer of `session` may be `dialer` (see [`Seal::admits`]).
    pub fn admits(&self, session: &Session, dialer: &str) -> bool {
        match self {
            Sealing::Plain(_) => true,
            Sealing::Tls(seal) => seal.admits(session, dialer),
        }
    }
}

/// What the acceptor learned from a connection's TLS session.
pub struct Session {
    /// The exporter value the handshake's MACs bind to.
    pub binding: [u8; 32],
    /// The dialer's certificate, when the herd CA checked one.
    cert: Option<CertificateDer<'static>>,
}

impl Session {
    /// A session with nothing sealed (the simulation's in-memory links).
    pub fn plain() -> Session {
        Session {
            binding: [0; 32],
            cert: None,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

impl Seal {
    /// Sealing with a throw-away self-signed certificate, authenticated (if at all) by
    /// `secrets` (current first).
    ///
    /// # Errors
    /// [`SealError`] if the certificate cannot be made.
    pub fn self_signed(secrets: Vec<Vec<u8>>) -> Result<Seal, SealError> {
        let made = rcgen::generate_simple_self_signed(vec![ANY_SERVER.to_string()])?;
        let chain = vec![made.cert.der().clone()];
        let key = PrivateKeyDer::from(made.signing_key);
        let verifier = Arc::new(Unchecked(provider()));
        let client = client_config(|b| {
            Ok(b.dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth())
        })?;
        let server = server_config(None, chain, key)?;
        Ok(Seal {
            client_any_name: client.clone(),
            client,
            server,
            secrets,
            ca: false,
        })
    }

    /// Mutual TLS under the herd CA (`material`), with `secrets` proved as well if any.
    ///
    /// # Errors
    /// [`SealError`] if rustls refuses the certificates or the key.
    pub fn with_ca(material: CaMaterial, secrets: Vec<Vec<u8>>) -> Result<Seal, SealError> {
        let mut roots = RootCertStore::empty();
        for root in material.roots {
            roots.add(root)?;
        }
        let roots = Arc::new(roots);
        let with_auth = |verifier: Arc<dyn ServerCertVerifier>| {
            client_config(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_client_auth_cert(material.chain.clone(), material.key.clone_key())
            })
        };
        let by_name =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider()).build()?;
        let client = with_auth(by_name.clone())?;
        let client_any_name = with_auth(Arc::new(AnyName(by_name)))?;
        let clients = WebPkiClientVerifier::builder_with_provider(roots, provider()).build()?;
        let server = server_config(Some(clients), material.chain, material.key)?;
        Ok(Seal {
            client,
            client_any_name,
            server,
            secrets,
            ca: true,
        })
    }

    /// The secrets this side proves and accepts, current first.
    pub fn secrets(&self) -> Vec<&[u8]> {
        self.secrets.iter().map(Vec::as_slice).collect()
    }

    /// Whether anything authenticates the other side (a secret or the herd CA).
    pub fn authenticates(&self) -> bool {
        self.ca || !self.secrets.is_empty()
    }

    /// Whether certificates come from the herd CA.
    pub fn uses_ca(&self) -> bool {
        self.ca
    }

    /// Opens TLS on a fresh connection to `them` (`*`: any name the CA signed) and runs the
    /// dialer's handshake as `me` inside it. Returns the sealed connection and the plaintext
    /// already read past the handshake.
    ///
    /// # Errors
    /// [`HandshakeError`] when TLS fails (a certificate that does not check) or the other side
    /// is not the expected server.
    pub async fn dial(
        &self,
        stream: Box<dyn Stream>,
        me: &str,
        them: &str,
    ) -> Result<(Box<dyn Stream>, BytesMut), HandshakeError> {
        let (mut stream, binding) = self.connect(stream, them).await?;
        let buf = handshake::dial(&mut stream, me, them, &self.secrets(), &binding).await?;
        Ok((stream, buf))
    }

    /// Opens TLS on a fresh connection to `them` (`*`: any name the CA signed), without the
    /// HERD1 handshake. Returns the sealed connection and its exporter value.
    ///
    /// # Errors
    /// [`HandshakeError`] when TLS fails or times out.
    pub async fn connect(
        &self,
        stream: Box<dyn Stream>,
        them: &str,
    ) -> Result<(Box<dyn Stream>, [u8; 32]), HandshakeError> {
        let peer = stream.peer();
        let (config, name) = match (self.ca, them) {
            (true, "*") => (&self.client_any_name, ANY_SERVER),
            (true, name) => (&self.client, name),
            (false, _) => (&self.client, ANY_SERVER),
        };
        let name = ServerName::try_from(name.to_string())
            .map_err(|_| HandshakeError::Unexpected(format!("{them:?} is not a DNS name")))?;
        let connect = TlsConnector::from(config.clone()).connect(name, stream);
        let tls = step(connect).await.map_err(tls_failed)?;
        let binding = export(&tls.get_ref().1.export_keying_material(
            [0u8; 32],
            EXPORTER_LABEL,
            None,
        ))?;
        let stream: Box<dyn Stream> = Box::new(Sealed {
            tls: tls.into(),
            peer,
        });
        Ok((stream, binding))
    }

    /// Accepts TLS on a connection to the peer port. Returns the sealed connection and what
    /// the handshake inside it needs (the binding, the dialer's certificate).
    ///
    /// # Errors
    /// [`HandshakeError`] when TLS fails or times out.
    pub async fn accept(
        &self,
        stream: Box<dyn Stream>,
    ) -> Result<(Box<dyn Stream>, Session), HandshakeError> {
        let peer = stream.peer();
        let accept = TlsAcceptor::from(self.server.clone()).accept(stream);
        let tls = step(accept).await.map_err(tls_failed)?;
        let conn = tls.get_ref().1;
        let binding = export(&conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None))?;
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned());
        let stream: Box<dyn Stream> = Box::new(Sealed {
            tls: tls.into(),
            peer,
        });
        Ok((stream, Session { binding, cert }))
    }

    /// Whether the dialer of `session` may be `dialer`: with the herd CA, its certificate
    /// must name it (`herd dump` may use any certificate the CA signed); otherwise the HMAC
    /// (or nothing) decides.
    pub fn admits(&self, session: &Session, dialer: &str) -> bool {
        if !self.ca {
            return true;
        }
        let Some(cert) = &session.cert else {
            return false;
        };
        if dialer == handshake::DUMP {
            return true;
        }
        names(cert, dialer)
    }
}

/// Whether `cert` (already checked to chain to the herd CA) names server `name`.
pub fn names(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
}

/// A TLS handshake with the handshake step's deadline.
async fn step<T>(f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(handshake::STEP_TIMEOUT, f)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?
}

fn tls_failed(e: io::Error) -> HandshakeError {
    if e.kind() == io::ErrorKind::TimedOut {
        return HandshakeError::Timeout;
    }
    HandshakeError::Io(io::Error::new(e.kind(), format!("TLS: {e}")))
}

fn export(r: &Result<[u8; 32], rustls::Error>) -> Result<[u8; 32], HandshakeError> {
    r.as_ref()
        .copied()
        .map_err(|e| HandshakeError::Io(io::Error::other(format!("TLS exporter: {e}"))))
}

/// A TLS 1.3-only client config on ring, without resumption (every link runs a full
/// handshake, so every link is authenticated afresh).
fn client_config(
    finish: impl FnOnce(
        rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>,
    ) -> Result<ClientConfig, rustls::Error>,
) -> Result<Arc<ClientConfig>, SealError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = finish(builder)?;
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// A TLS 1.3-only server config on ring, checking client certificates with `clients` if
/// given, issuing no session tickets.
fn server_config(
    clients: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, SealError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match clients {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// Secret mode's certificate check: any certificate, as long as the peer holds its key (the
/// TLS 1.3 signature is still checked). Who the peer is, the bound HMAC says.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
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
        verify_tls12_signature(
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
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The herd CA's check for `herd dump HOST:PORT`: the certificate must chain to the CA, but
/// may name any server.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                ..
            })) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A sealed connection right after its handshake (used as a whole by `herd dump`, split by
/// a link).
struct Sealed {
    /// The TLS stream tokio-rustls ran the handshake on.
    tls: tokio_rustls::TlsStream<Box<dyn Stream>>,
    /// Who is at the other end, for the log.
    peer: String,
}

impl AsyncRead for Sealed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for Sealed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl Stream for Sealed {
    fn into_halves(self: Box<Self>) -> (ReadHalf, Arc<dyn WriteHalf>) {
        // Whatever tokio-rustls read or wrote stays in the rustls connection (plaintext not
        // yet read, records not yet sent): the halves start from it.
        let (io, conn): (Box<dyn Stream>, rustls::Connection) = match self.tls {
            tokio_rustls::TlsStream::Client(t) => {
                let (io, c) = t.into_inner();
                (io, c.into())
            }
            tokio_rustls::TlsStream::Server(t) => {
                let (io, c) = t.into_inner();
                (io, c.into())
            }
        };
        let (rd, wr) = io.into_halves();
        let mut conn = conn;
        conn.set_buffer_limit(Some(SEND_BUFFER));
        let conn = Arc::new(Mutex::new(conn));
        let write = Arc::new(SealedWrite {
            conn: conn.clone(),
            socket: wr.clone(),
        });
        let read = SealedRead {
            conn,
            socket: rd,
            wire: wr,
            chunk: vec![0; READ_CHUNK],
            fed: 0,
            got: 0,
            eof: false,
        };
        (Box::new(read), write)
    }

    fn peer(&self) -> String {
        self.peer.clone()
    }
}

/// Moves TLS records out of a rustls connection into a socket's non-blocking writes.
struct TryWriter<'a>(&'a dyn WriteHalf);

impl Write for TryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the records rustls holds until the socket is full. Returns whether all went out.
fn send_records(conn: &mut rustls::Connection, socket: &dyn WriteHalf) -> io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(&mut TryWriter(socket)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The write half of a sealed link: plaintext in, records out, never waiting.
pub struct SealedWrite {
    /// The TLS state, shared with the read half.
    conn: Arc<Mutex<rustls::Connection>>,
    /// The socket's write half.
    socket: Arc<dyn WriteHalf>,
}

impl SealedWrite {
    /// Takes what fits of `bufs` into rustls (only once earlier records are out, so at most
    /// one buffer's worth waits) and writes the records.
    fn seal(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !send_records(&mut conn, &*self.socket)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = conn.writer().write_vectored(bufs)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // Records the socket does not take now stay in rustls: `try_flush` reports them, and
        // the link's writer sends them once the socket has room.
        send_records(&mut conn, &*self.socket)?;
        Ok(n)
    }
}

impl WriteHalf for SealedWrite {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.seal(&[IoSlice::new(buf)])
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.seal(bufs)
    }

    fn writable(&self) -> BoxFuture<'_, io::Result<()>> {
        self.socket.writable()
    }

    fn try_flush(&self) -> io::Result<bool> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        send_records(&mut conn, &*self.socket)
    }
}

/// The read half of a sealed link: records in, plaintext out.
pub struct SealedRead {
    /// The TLS state, shared with the write half.
    conn: Arc<Mutex<rustls::Connection>>,
    /// The socket's read half.
    socket: ReadHalf,
    /// The socket's write half, for what rustls has to say while reading (alerts).
    wire: Arc<dyn WriteHalf>,
    /// Bytes read from the socket; `chunk[fed..got]` are not yet given to rustls.
    chunk: Vec<u8>,
    /// How much of `chunk` rustls has taken.
    fed: usize,
    /// How much of `chunk` the socket filled.
    got: usize,
    /// Whether the socket reached its end.
    eof: bool,
}

fn bad_record(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl AsyncRead for SealedRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            {
                let mut conn = me.conn.lock().unwrap_or_else(|e| e.into_inner());
                match conn.reader().read(buf.initialize_unfilled()) {
                    Ok(n) => {
                        // 0: the peer closed the session cleanly (close_notify).
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The socket ended without close_notify: a closed link all the same.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Poll::Ready(Ok(()))
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
                // No plaintext waits, so rustls has room: feed it what the socket gave.
                if me.fed < me.got {
                    let mut data = &me.chunk[me.fed..me.got];
                    let before = data.len();
                    conn.read_tls(&mut data)?;
                    me.fed += before - data.len();
                    let processed = conn.process_new_packets();
                    if conn.wants_write() {
                        let _ = send_records(&mut conn, &*me.wire);
                    }
                    // A record that does not decrypt (changed in transit): the link is over.
                    processed.map_err(bad_record)?;
                    continue;
                }
                if me.eof {
                    return Poll::Ready(Ok(()));
                }
            }
            let mut chunk = ReadBuf::new(&mut me.chunk);
            ready!(Pin::new(&mut me.socket).poll_read(cx, &mut chunk))?;
            me.got = chunk.filled().len();
            me.fed = 0;
            if me.got == 0 {
                me.eof = true;
                let mut conn = me.conn.lock().unwrap_or_else(|e| e.into_inner());
                let _ = conn.read_tls(&mut io::empty());
                conn.process_new_packets().map_err(bad_record)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A sealed connection over loopback TCP: (dialer's end, acceptor's end).
    async fn pair() -> (Box<dyn Stream>, Box<dyn Stream>) {
        let seal = Seal::self_signed(vec![vec![7; 32]]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(
            async {
                seal.connect(Box::new(TcpStream::connect(addr).await.unwrap()), "B")
                    .await
            },
            async {
                let (tcp, _) = listener.accept().await.unwrap();
                seal.accept(Box::new(tcp)).await
            }
        );
        let ((d, db), (a, session)) = (dialed.unwrap(), accepted.unwrap());
        // Both ends of one session see one exporter value.
        assert_eq!(db, session.binding);
        (d, a)
    }

    #[tokio::test]
    async fn plaintext_buffered_at_the_split_and_direct_writes_arrive_in_order() {
        let (mut d, mut a) = pair().await;
        d.write_all(b"early line\n").await.unwrap();
        d.flush().await.unwrap();
        // tokio-rustls reads the whole record for one byte: the rest waits in rustls.
        let mut first = [0u8; 1];
        a.read_exact(&mut first).await.unwrap();
        let (mut rd, _) = a.into_halves();
        let (_, wr) = d.into_halves();
        // One non-blocking write, in this task: it is on the wire when it returns.
        assert_eq!(wr.try_write(b"direct\n").unwrap(), 7);
        assert!(wr.try_flush().unwrap());
        let mut got = vec![0u8; 17];
        rd.read_exact(&mut got).await.unwrap();
        assert_eq!(&first, b"e");
        assert_eq!(&got, b"arly line\ndirect\n");
    }

    #[tokio::test]
    async fn a_full_socket_holds_records_until_flushed_and_nothing_is_lost_or_doubled() {
        let (d, a) = pair().await;
        let (mut rd, _) = a.into_halves();
        let (_, wr) = d.into_halves();
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            let mut at = 0;
            while at < data.len() {
                match wr.try_write(&data[at..(at + 10_000).min(data.len())]) {
                    Ok(n) => at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wr.writable().await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            while !wr.try_flush().unwrap() {
                wr.writable().await.unwrap();
            }
        });
        let mut got = Vec::new();
        let read_all = async {
            while got.len() < expected.len() {
                let mut chunk = vec![0u8; 50_000];
                let n = rd.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&chunk[..n]);
            }
        };
        // Records left in rustls with nobody to flush them would stall the reader.
        tokio::time::timeout(handshake::STEP_TIMEOUT * 6, read_all)
            .await
            .expect("bytes stuck in the write half");
        writer.await.unwrap();
        assert!(got == expected, "the bytes differ");
    }

    #[test]
    fn a_ca_certificate_names_only_its_server() {
        let made = rcgen::generate_simple_self_signed(vec!["Clark".to_string()]).unwrap();
        assert!(names(made.cert.der(), "Clark"));
        assert!(!names(made.cert.der(), "Bona"));
        assert!(!names(made.cert.der(), "not a name"));
    }
}
