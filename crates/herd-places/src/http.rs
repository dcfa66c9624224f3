//! How the herd reaches a Google API: the [`Endpoint`] (client, URL, key) built from the
//! `[places]` settings, and one call bounded in time and in bytes ([`send`]), whose failures
//! ([`CallError`]) never show the URL or the key.

use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode, Url};
use thiserror::Error;

use crate::settings::PlacesConfig;

/// Largest answer body read from Google; Nearby Search answers are a few tens of KiB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Where and how to call one Google API.
pub struct Endpoint {
    /// The shared client (connection pool, rustls, timeouts).
    client: Client,
    /// The endpoint, without query.
    url: Url,
    /// The API key; never written to logs, debug dumps or error messages.
    api_key: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand, so that the API key never appears in a debug dump.
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The endpoint `path` below `config.base_url` (`default_base` when none is set), called
    /// with `api_key` and at most `config.timeout` per call.
    ///
    /// # Errors
    ///
    /// An [`EndpointError`] for a base URL that is not an absolute http(s) URL without query,
    /// or an HTTP client that cannot be built.
    pub fn new(
        config: &PlacesConfig,
        api_key: String,
        default_base: &str,
        path: &str,
    ) -> Result<Self, EndpointError> {
        let base = config.base_url.as_deref().unwrap_or(default_base);
        let joined = format!("{}{path}", base.trim_end_matches('/'));
        let url = Url::parse(&joined).map_err(|err| EndpointError::BaseUrl {
            url: base.to_owned(),
            reason: err.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(EndpointError::BaseUrl {
                url: base.to_owned(),
                reason: "expected http:// or https:// and no query".to_owned(),
            });
        }
        let client = Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("herd/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .build()?;
        Ok(Self {
            client,
            url,
            api_key,
        })
    }

    /// The client every call goes through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The endpoint's URL, without query.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The API key, to put in a header or query; keep it out of messages.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

/// Why an [`Endpoint`] could not be set up.
#[derive(Debug, Error)]
pub enum EndpointError {
    /// `places.base_url` is not a usable URL.
    #[error("places.base_url {url:?} is not a usable URL: {reason}")]
    BaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be set up (TLS roots, resolver).
    #[error("cannot set up the HTTP client for Google: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// An HTTP answer from Google, body read in full.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body, at most [`MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// Why a call to Google brought back no HTTP answer.
#[derive(Debug, Error)]
pub enum CallError {
    /// Google did not answer within the budget (or no budget was left).
    #[error("Google did not answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// No connection could be made; the error has its URL removed.
    #[error("could not connect to Google: {}", error_chain(.0))]
    Connect(reqwest::Error),
    /// The call failed after connecting; the error has its URL removed.
    #[error("the call to Google failed: {}", error_chain(.0))]
    Transport(reqwest::Error),
    /// The body grew past [`MAX_BODY_BYTES`].
    #[error("Google's answer was larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

impl CallError {
    /// Classifies a reqwest failure of a call that had `budget`, dropping the URL (which may
    /// carry the API key).
    fn from_reqwest(err: reqwest::Error, budget: Duration) -> Self {
        if err.is_timeout() {
            Self::TimedOut(budget)
        } else if err.is_connect() {
            Self::Connect(err.without_url())
        } else {
            Self::Transport(err.without_url())
        }
    }
}

/// Sends `request` and reads the whole answer within `budget`.
///
/// # Errors
///
/// A [`CallError`] for a timeout, a connection error or a body too large.
pub async fn send(request: RequestBuilder, budget: Duration) -> Result<HttpAnswer, CallError> {
    if budget.is_zero() {
        return Err(CallError::TimedOut(budget));
    }
    let transport = |err| CallError::from_reqwest(err, budget);
    let mut response = request.timeout(budget).send().await.map_err(transport)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpAnswer { status, body })
}

/// `err` and its causes, joined with `: `.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
