//! Outgoing email (invitations), over SMTP, when the operator configures it
//! (`OAUTH_VAULT_SMTP_URL`, `OAUTH_VAULT_SMTP_FROM`). The URL carries the
//! server's credentials: it is never logged, and neither `Debug` nor an
//! error shows it.

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// How long one message may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The URL is not one the mailer understands (scheme, host, port).
    #[error("not an SMTP URL this server can use: use smtp://, smtps:// (TLS) or smtp://…?tls=required (STARTTLS), with a host")]
    BadUrl,
    #[error("not an email address to send from: {0}")]
    BadFrom(String),
    #[error("not an email address: {0}")]
    BadTo(String),
    /// The server refused, or could not be reached.
    #[error("the mail server did not take the message: {0}")]
    Send(String),
}

/// Sends email through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The server's host and port, for messages (never the credentials).
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `url` (`smtps://user:pass@host:465`, `smtp://host:25`,
    /// `smtp://host:587?tls=required`) sending as `from`.
    pub fn new(url: &SecretString, from: &str) -> Result<Self, MailError> {
        let parsed = url::Url::parse(url.expose_secret()).map_err(|_| MailError::BadUrl)?;
        let host = parsed.host_str().ok_or(MailError::BadUrl)?;
        let server = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|_| MailError::BadUrl)?
            .timeout(Some(TIMEOUT))
            .build();
        let from = from
            .trim()
            .parse::<Mailbox>()
            .map_err(|_| MailError::BadFrom(from.trim().chars().take(254).collect()))?;
        Ok(Self {
            transport,
            from,
            server,
        })
    }

    /// The server, as `host:port`, for the log and the operator.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to_box = to
            .parse::<Mailbox>()
            .map_err(|_| MailError::BadTo(to.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Send(e.to_string()))?;
        match tokio::time::timeout(TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Send(describe(&e))),
            Err(_) => Err(MailError::Send("timed out".into())),
        }
    }
}

/// A transport error in words, without anything the URL held.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_permanent() || e.is_transient() {
        match e.status() {
            Some(code) => format!("the server answered {code}"),
            None => "the server refused the message".into(),
        }
    } else if e.is_client() {
        "the message could not be built".into()
    } else {
        "the server could not be reached, or the connection failed".into()
    }
}
