//! `herd certs init`: the herd's own CA and one certificate per server, like
//! `cockroach cert`. Each server certificate names its server (a DNS SAN) and serves both
//! ends of a link (server and client authentication); every key is written readable by its
//! owner only, and nothing already in the folder is overwritten.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// How many years the CA is valid.
const CA_YEARS: i32 = 10;
/// How many years a server certificate is valid.
const SERVER_YEARS: i32 = 5;

/// Writes `ca.crt`, `ca.key` and `NAME.crt`/`NAME.key` for each of `names` into `out`.
///
/// # Errors
/// A file exists already, cannot be written, or a certificate cannot be made.
pub fn init(names: &[String], out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut files = vec!["ca.crt".to_string(), "ca.key".to_string()];
    for n in names {
        files.push(format!("{n}.crt"));
        files.push(format!("{n}.key"));
    }
    if let Some(taken) = files.iter().find(|f| out.join(f).exists()) {
        anyhow::bail!(
            "{} exists already: `herd certs init` never overwrites (use an empty --out folder)",
            out.join(taken).display()
        );
    }
    let year = this_year();
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "herd CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    ca.not_after = rcgen::date_time_ymd(year + CA_YEARS, 1, 1);
    let ca_cert = ca.self_signed(&ca_key)?;
    write(out, "ca.crt", ca_cert.pem().as_bytes(), false)?;
    write(out, "ca.key", ca_key.serialize_pem().as_bytes(), true)?;
    let issuer = Issuer::new(ca, ca_key);
    for name in names {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![name.clone()])
            .with_context(|| format!("{name:?} cannot be a certificate's DNS name"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + SERVER_YEARS, 1, 1);
        let cert = params.signed_by(&key, &issuer)?;
        write(out, &format!("{name}.crt"), cert.pem().as_bytes(), false)?;
        write(
            out,
            &format!("{name}.key"),
            key.serialize_pem().as_bytes(),
            true,
        )?;
    }
    Ok(())
}

/// The current year, from the system clock.
fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + (secs / 31_556_952) as i32
}

/// Creates `out/name` (never replacing a file) with `bytes`; `secret` files get mode 0600.
fn write(out: &Path, name: &str, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let path = out.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if secret { 0o600 } else { 0o644 });
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
