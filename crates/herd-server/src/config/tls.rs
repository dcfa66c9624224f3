//! `[herd.tls]`: the herd's own CA. The CA certificates are read when the config is loaded
//! (every server and `herd dump` needs them); a server's own certificate and key only when
//! that server starts (a host holds its own key, not the others').
//!
//! Relative paths are taken from the config file's folder, so a folder with the config and
//! the output of `herd certs init` can be copied as a whole.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::sections::{OneOrMany, ServerEntry, TlsSection};
use super::{Config, ConfigError, ServerConfig};

/// The herd CA, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct HerdTls {
    /// The CA files, as resolved.
    pub ca_files: Vec<PathBuf>,
    /// Every CA certificate they hold (several while a CA is being replaced).
    pub roots: Vec<CertificateDer<'static>>,
}

/// Loads the CA certificates of `section` and gives each server its certificate and key
/// paths.
///
/// # Errors
/// A [`ConfigError`] when a CA file cannot be read or holds no certificate, a server has no
/// certificate or key path, or a server's name cannot be a certificate's DNS name.
pub(crate) fn resolve(
    section: &TlsSection,
    entries: &[ServerEntry],
    servers: &mut [ServerConfig],
    file: &str,
) -> Result<HerdTls, ConfigError> {
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let ca = match &section.ca {
        OneOrMany::One(p) => vec![p.clone()],
        OneOrMany::Many(ps) => ps.clone(),
    };
    if ca.is_empty() {
        return Err(ConfigError::new(file, "herd.tls.ca", "names no CA file"));
    }
    let mut roots = Vec::new();
    let mut ca_files = Vec::new();
    for p in ca {
        let path = base.join(&p);
        let certs = read_certs(&path).map_err(|e| ConfigError::new(file, "herd.tls.ca", e))?;
        roots.extend(certs);
        ca_files.push(path);
    }
    for (i, (server, entry)) in servers.iter_mut().zip(entries).enumerate() {
        if !ServerName::try_from(server.name.as_str())
            .is_ok_and(|n| matches!(n, ServerName::DnsName(_)))
        {
            return Err(ConfigError::new(
                file,
                format!("servers[{i}].name"),
                format!(
                    "\"{}\" cannot be named by a certificate (with [herd.tls], a name must be a DNS name: letters, digits, '-' and '.')",
                    server.name
                ),
            ));
        }
        let path = |own: &Option<String>, shared: &Option<String>, what: &str| {
            own.clone()
                .or_else(|| shared.as_ref().map(|t| t.replace("{name}", &server.name)))
                .map(|p| base.join(p))
                .ok_or_else(|| {
                    ConfigError::new(
                        file,
                        format!("servers[{i}].{what}"),
                        format!("has no {what} file: set [herd.tls] {what} (e.g. \"certs/{{name}}.{what}\") or this server's {what}"),
                    )
                })
        };
        server.cert = Some(path(&entry.cert, &section.cert, "cert")?);
        server.key = Some(path(&entry.key, &section.key, "key")?);
    }
    Ok(HerdTls { ca_files, roots })
}

/// The certificates of a PEM file (at least one).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// Server `name`'s certificate chain and key, read from its files.
///
/// # Errors
/// A [`ConfigError`] on `servers[i].cert` or `.key` when a file cannot be read or parsed.
pub fn server_material(
    config: &Config,
    name: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    let file = &config.source;
    let i = config
        .servers
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| ConfigError::new(file, "servers", format!("no server called \"{name}\"")))?;
    let server = &config.servers[i];
    let (Some(cert), Some(key)) = (&server.cert, &server.key) else {
        return Err(ConfigError::new(
            file,
            format!("servers[{i}].cert"),
            "has no certificate (no [herd.tls])",
        ));
    };
    let chain =
        read_certs(cert).map_err(|e| ConfigError::new(file, format!("servers[{i}].cert"), e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        ConfigError::new(
            file,
            format!("servers[{i}].key"),
            format!("cannot read a PEM private key from {}: {e}", key.display()),
        )
    })?;
    Ok((chain, key))
}
