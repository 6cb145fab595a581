//! Serving a fake provider on a loopback port: shared by the fakes.
#![allow(dead_code)]

use std::net::SocketAddr;
use tokio::sync::oneshot;

/// A router served on the current runtime; dropping it stops the server.
pub struct Served {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Served {
    pub async fn start(addr: SocketAddr, router: axum::Router) -> std::io::Result<Served> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Served {
            address: format!("http://{local}"),
            shutdown: Some(tx),
        })
    }

    /// `127.0.0.1:<port>`, for `OAUTH_VAULT_ALLOWED_HOSTS`.
    pub fn host(&self) -> String {
        self.address
            .strip_prefix("http://")
            .unwrap_or(&self.address)
            .to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
