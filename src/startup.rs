//! Building and running the application: data folder, keys, database,
//! router, listener.

use crate::{
    config::{self, Config},
    http::{cache_control, csrf, health, portal_guard, security_headers, trace},
    keys::{self, KeyError, KeyOrigin},
};
use app::{
    catalogue::{loader::Catalogue, urls::OutboundPolicy},
    infra::db::{Db, DbError, DbKind},
    infra::outbound::Outbound,
    services::context::{Caches, Context, Settings},
    web::state::AppState,
};
use axum::{middleware, routing::get, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use secrecy::ExposeSecret;
use std::{future::Future, io, net::SocketAddr, path::PathBuf, sync::Arc};
use tokio::net::TcpListener;
use tower_http::compression::{
    predicate::{DefaultPredicate, Predicate, SizeAbove},
    CompressionLayer,
};
use tower_http::trace::TraceLayer;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot create the data folder {path}: {source} (set OAUTH_VAULT_DATA_DIR to a writable folder)")]
    DataDir { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Database(#[from] DbError),
    #[error("cannot listen on {addr}: {source} (is another process using it? set OAUTH_VAULT_BIND to a free address)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("{0}")]
    Logging(String),
    #[error("{0}")]
    Http(String),
    #[error(transparent)]
    Catalogue(#[from] app::catalogue::loader::CatalogueError),
}

pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own, with its token if one is set.
    metrics: Option<(TcpListener, Option<secrecy::SecretString>)>,
    router: Router,
    state: AppState,
    /// Watched for rotations while the server runs.
    key_file: Option<PathBuf>,
    /// The one-time link that creates the first administrator, while the
    /// instance has none.
    setup_link: Option<String>,
}

impl Application {
    /// Prepares everything the server needs and binds its listener. Errors
    /// here are configuration or environment problems, reported in one line.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartupError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;

        let outbound = Arc::new(OutboundPolicy::new(config.allowed_hosts.clone()));
        let catalogue = Catalogue::load(config.providers_dir.as_deref(), &outbound)?;
        tracing::info!(
            providers = catalogue.all().len(),
            "provider catalogue loaded"
        );

        let (keyring, key_file) = load_keys(&config)?;
        let db = open_database(&config).await?;

        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.bind,
            source,
        })?;

        let public_url = match &config.public_url {
            Some(url) => config::public_base(url),
            None => config::derive_public_url(local_addr),
        };
        let secure = public_url.starts_with("https://");
        let public_url_for_sso = public_url.clone();

        let leptos_options = leptos_options(&config, local_addr);
        let usage =
            app::services::usage::UsageWriter::start(db.clone(), config.token_read_audit_window);
        let state = AppState::new(app::web::state::Shared {
            leptos_options,
            shell: |options| app::ui::shell(options).into_any(),
            services: Context {
                db,
                keyring: Arc::new(keyring),
                settings: Arc::new(Settings {
                    public_url,
                    secure_cookies: secure,
                    token_care: config.token_care.clone(),
                    durable_read_audit: config.durable_read_audit,
                    signup: config.signup,
                    trusted_proxies: config.trusted_proxies.clone(),
                    signups_per_address: config.signups_per_address,
                    password_login: config.password_login,
                }),
                catalogue: Arc::new(catalogue),
                http: Outbound::new(outbound.clone()).map_err(StartupError::Http)?,
                outbound,
                usage,
                caches: Arc::new(Caches::new(config.api_cache_ttl)),
                mailer: mailer(&config),
                sso: config
                    .sso
                    .clone()
                    .map(|c| Arc::new(app::services::sso::Sso::new(c, &public_url_for_sso))),
            },
        });
        if let Some(sso) = state.sso.clone() {
            // the server starts either way; the sign-in page explains a failure
            let http = state.http.clone();
            tokio::spawn(async move {
                let _ = sso.discover(&http).await;
            });
        }
        let setup_link = setup_link(&state).await?;
        crate::metrics::handle();
        let mut router = router(state.clone(), secure, config.api_rate_limit);
        if let Some(token) = config.metrics_token.clone() {
            router = router.merge(crate::metrics::guarded(token));
        }
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::Bind { addr, source })?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            metrics: metrics_listener.map(|l| (l, config.metrics_token.clone())),
            router,
            state,
            key_file,
            setup_link,
        })
    }

    /// The link that creates the first administrator, while there is none.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let db = self.state.db.clone();
        let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(app::services::worker::run_worker(
            self.state.services.clone(),
            worker_stop.clone(),
        ));
        let renewal = tokio::spawn(app::services::tokens::renew_cached_connections(
            self.state.services.clone(),
            worker_stop.clone(),
        ));
        let checkpoints = {
            let db = db.clone();
            let stop = worker_stop.clone();
            tokio::spawn(async move { db.checkpoints(stop).await })
        };
        let sampler = tokio::spawn(crate::metrics::sample(
            self.state.services.clone(),
            worker_stop.clone(),
        ));
        if let Some((listener, token)) = self.metrics {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(address = %addr, "metrics are served at /metrics on their own address");
            }
            let mut stop = worker_stop.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, crate::metrics::standalone(token))
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "serving metrics failed");
                }
            });
        }
        if let Some(path) = self.key_file.clone() {
            tokio::spawn(keys::watch_key_file(
                path,
                self.state.keyring.clone(),
                worker_stop,
            ));
        }
        let result = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop_worker.send(true);
        let _ = worker.await;
        let _ = renewal.await;
        let _ = sampler.await;
        let _ = checkpoints.await;
        if let Err(e) = self.state.usage.flush_and_release().await {
            tracing::error!(error = %e, "recording the last API usage failed");
        }
        db.close().await;
        result
    }
}

/// The encryption keys, and the file they came from (which running servers
/// watch for a rotation).
fn load_keys(
    config: &Config,
) -> Result<(app::infra::crypto::Keyring, Option<std::path::PathBuf>), StartupError> {
    let (keyring, origin) = keys::load_keyring(&config.keys)?;
    let key_file = match &origin {
        KeyOrigin::Env => None,
        KeyOrigin::File(path) | KeyOrigin::Generated(path) => Some(path.clone()),
    };
    match &origin {
        KeyOrigin::Env => tracing::info!(
            active_key = keyring.active_key_id(),
            "encryption keys from OAUTH_VAULT_KEYS"
        ),
        KeyOrigin::File(path) | KeyOrigin::Generated(path) => tracing::info!(
            active_key = keyring.active_key_id(),
            path = %path.display(),
            "encryption keys from file"
        ),
    }
    Ok((keyring, key_file))
}

/// A new setup link when the instance has no administrator yet: nobody
/// becomes administrator by signing up, only its holder.
async fn setup_link(state: &AppState) -> Result<Option<String>, StartupError> {
    use app::infra::tokens::{hash_token, random_token};
    use app::store::accounts;
    if !accounts::setup_needed(&state.db)
        .await
        .map_err(DbError::from)?
    {
        return Ok(None);
    }
    let token = random_token();
    accounts::add_setup_token(&state.db, &hash_token(&token))
        .await
        .map_err(DbError::from)?;
    tracing::warn!(
        "this instance has no administrator yet: open the setup link printed on standard output to create one"
    );
    Ok(Some(format!("{}/setup/{token}", state.settings.public_url)))
}

/// The database, migrated.
async fn open_database(config: &Config) -> Result<Db, StartupError> {
    let database_url = config.database_url.expose_secret();
    let max_connections =
        config
            .db_max_connections
            .unwrap_or(match DbKind::from_url(database_url) {
                Some(DbKind::Postgres) => 10,
                _ => 8,
            });
    let db = Db::connect(database_url, max_connections).await?;
    db.migrate().await?;
    tracing::info!(
        database = %app::infra::db::redact_url(database_url),
        "database ready, migrations applied"
    );
    Ok(db)
}

/// Where the client bundle is served from; a missing bundle is logged
/// (pages then work without JavaScript).
fn leptos_options(config: &Config, local_addr: SocketAddr) -> LeptosOptions {
    let site_root = config.site_root.to_string_lossy().to_string();
    // the content-hashed bundle, when the build left one
    let output_name = match crate::http::assets::build_id(&config.site_root) {
        Some(id) => format!("{}.{id}", app::util::OUTPUT_NAME),
        None => app::util::OUTPUT_NAME.to_string(),
    };
    let bundle = config
        .site_root
        .join("pkg")
        .join(format!("{output_name}.js"));
    if !bundle.exists() {
        tracing::warn!(
            site_root = %site_root,
            "the client bundle is missing; pages work without JavaScript until it is built (scripts/build-client)"
        );
    }
    LeptosOptions::builder()
        .output_name(output_name)
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(local_addr)
        .build()
}

/// Whether an answer may be compressed: not when it must not be stored.
fn may_compress(
    _: axum::http::StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    !headers
        .get(axum::http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"))
}

/// The portal's routes, generated once per process. Generating them renders
/// the app with resource loading switched off — a process-wide switch in
/// Leptos — so doing it again while another instance in the same process
/// serves pages (tests start many) would stall that instance's pages.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES
        .get_or_init(|| generate_route_list(app::ui::App))
        .clone()
}

fn router(state: AppState, hsts: bool, api_rate_limit: u32) -> Router {
    let routes = route_list();
    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    let leptos_options = state.leptos_options.clone();
    let site_root = std::path::PathBuf::from(leptos_options.site_root.to_string());
    Router::new()
        .nest_service("/pkg", crate::http::assets::pkg(&site_root))
        .route("/connect.js", get(crate::http::assets::connect_js))
        .route(
            "/connect-popup.js",
            get(crate::http::assets::connect_popup_js),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(app::ui::server_routes())
        .nest("/v1", crate::api::router(state.clone(), api_rate_limit))
        .leptos_routes_with_context(&state, routes, provide_state.clone(), move || {
            app::ui::shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(provide_state, app::ui::shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            portal_guard::layer,
        ))
        .layer(middleware::from_fn(trace::server_fn_failures))
        .layer(middleware::from_fn_with_state(
            state.settings.secure_cookies,
            cache_control::layer,
        ))
        .layer(middleware::from_fn_with_state(
            state.settings.clone(),
            csrf::layer,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(security_headers::SecurityHeaders { hsts }),
            security_headers::layer,
        ))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(trace::make_span)
                .on_response(trace::Answered),
        )
        // HTML and JSON above 1 KiB, when the browser accepts br or gzip —
        // never an answer that must not be stored (`no-store`: the token
        // API, signed-in pages, one-time links). Those hold secrets or CSRF
        // tokens next to input an attacker may reflect: compressing them
        // would open a length side channel (BREACH). The bundle under /pkg
        // comes precompressed.
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(SizeAbove::new(1024))
                    .and(may_compress),
            ),
        )
        // before the log line, which names the request
        .layer(middleware::from_fn_with_state(
            state.settings.clone(),
            crate::http::request_id::layer,
        ))
        // before the log line, which names the client
        .layer(middleware::from_fn_with_state(
            state.settings.clone(),
            app::web::client::layer,
        ))
        .with_state(state)
}

/// The mail server of invitations, when one is configured (its settings
/// were checked with the configuration).
fn mailer(config: &Config) -> Option<app::infra::mail::Mailer> {
    let smtp = config.smtp.as_ref()?;
    match app::infra::mail::Mailer::new(&smtp.url, &smtp.from) {
        Ok(mailer) => {
            tracing::info!(server = %mailer.server(), "invitations are sent by email");
            Some(mailer)
        }
        Err(e) => {
            tracing::warn!(error = %e, "invitations are not sent by email: check OAUTH_VAULT_SMTP_URL");
            None
        }
    }
}
