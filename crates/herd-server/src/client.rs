//! A line client for the herd, as `herd client` and the tests use it: send lines, half-close,
//! read every answer to the end; or copy stdin and stdout both ways, like `nc`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `lines` (each followed by `\n`) to `addr`, half-closes, and returns everything the
/// server answered before it closed. Gives up after `timeout`.
///
/// # Errors
/// The connection failed or the server did not close within `timeout`.
pub async fn exchange(
    addr: SocketAddr,
    lines: &[impl AsRef<[u8]>],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut payload = Vec::new();
    for line in lines {
        payload.extend_from_slice(line.as_ref());
        payload.push(b'\n');
    }
    exchange_raw(addr, &payload, timeout).await
}

/// Sends `bytes` as they are, half-closes, and reads to the end.
///
/// # Errors
/// As [`exchange`].
pub async fn exchange_raw(
    addr: SocketAddr,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let work = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(bytes).await?;
        stream.shutdown().await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok(answer)
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the server did not answer in time",
        )
    })?
}

/// Copies stdin to the server and the server to stdout until both sides are done.
///
/// # Errors
/// The connection failed.
pub async fn interactive(addr: SocketAddr) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = stream.into_split();
    let upload = async move {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut wr).await?;
        wr.shutdown().await
    };
    let download = async move {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut rd, &mut stdout).await?;
        stdout.flush().await
    };
    let (up, down) = tokio::join!(upload, download);
    up.and(down)
}

/// Fetches a server's table as `client origin time location` lines sorted by client: the
/// tool seals the connection and authenticates like a neighbour (`sealing`: the herd's shared
/// secret, or a certificate of the herd CA), under
/// the reserved name `*dump`. `name` is the server's name if known, else `*`.
///
/// # Errors
/// The connection failed, the server refused the handshake, or it did not finish in `timeout`.
pub async fn dump(
    addr: SocketAddr,
    name: &str,
    sealing: &crate::peer::seal::Sealing,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let work = async {
        let stream = TcpStream::connect(addr).await?;
        let (mut stream, buf) = sealing
            .dial(Box::new(stream), crate::peer::handshake::DUMP, name)
            .await
            .map_err(|e| std::io::Error::other(format!("the server refused the dump: {e}")))?;
        let mut table = buf.to_vec();
        stream.read_to_end(&mut table).await?;
        Ok(table)
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the server did not answer in time",
        )
    })?
}
