//! The server under test: the real `oauth-vault` binary in its own process.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// What every server of one benchmark shares.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub binary: PathBuf,
    pub site_root: Option<PathBuf>,
    pub logs: PathBuf,
}

/// One start of the server.
pub struct Launch<'a> {
    pub database_url: &'a str,
    pub data_dir: &'a Path,
    pub keys: &'a str,
    pub providers_dir: &'a Path,
    pub allowed_hosts: &'a str,
    /// Extra settings (name, value), e.g. the worker's interval.
    pub env: Vec<(String, String)>,
    /// Names the log file.
    pub label: String,
}

pub struct Server {
    child: Child,
    pub base_url: String,
    /// From spawning the process to the first ready `/readyz`.
    pub ready_in: Duration,
}

impl Server {
    pub async fn start(
        spec: &ServerSpec,
        launch: Launch<'_>,
        http: &reqwest::Client,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&spec.logs).map_err(|e| format!("creating the log folder: {e}"))?;
        let log_path = spec.logs.join(format!("{}.log", launch.label));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let mut command = Command::new(&spec.binary);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", launch.database_url)
            .env("OAUTH_VAULT_BIND", "127.0.0.1:0")
            .env("OAUTH_VAULT_DATA_DIR", launch.data_dir)
            .env("OAUTH_VAULT_KEYS", launch.keys)
            .env("OAUTH_VAULT_PROVIDERS_DIR", launch.providers_dir)
            .env("OAUTH_VAULT_ALLOWED_HOSTS", launch.allowed_hosts)
            // The harness drives the token API with one key, far above any
            // per-key limit: it measures the server, not the limiter.
            .env("OAUTH_VAULT_API_RATE_LIMIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(level) = std::env::var_os("RUST_LOG") {
            command.env("RUST_LOG", level);
        }
        if let Some(site) = &spec.site_root {
            command.env("OAUTH_VAULT_SITE_ROOT", site);
        }
        for (name, value) in &launch.env {
            command.env(name, value);
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", spec.binary.display()))?;
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("OAuth Vault is running at ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let mut server = Self {
            child,
            base_url: String::new(),
            ready_in: Duration::ZERO,
        };
        let deadline = started + Duration::from_secs(60);
        loop {
            if let Ok(url) = rx.try_recv() {
                server.base_url = url;
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}) before serving; see {}",
                    log_path.display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server did not start within 60 s; see {}",
                    log_path.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready = format!("{}/readyz", server.base_url);
        loop {
            if let Ok(r) = http.get(&ready).send().await {
                if r.status().is_success() {
                    server.ready_in = started.elapsed();
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server was not ready within 60 s; see {}",
                    log_path.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Resident and peak resident memory in bytes, from `/proc`.
    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let read = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
                .unwrap_or(0)
        };
        Memory {
            resident: read("VmRSS:"),
            peak: read("VmHWM:"),
        }
    }

    /// SIGTERM, then waits (10 s at most) for a clean exit.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub resident: u64,
    pub peak: u64,
}
