//! Health checks of long-lived tokens: a dead token needs reauthorization;
//! granted scopes are re-read and a new shortfall is recorded.

use super::refresh::{client_of, mark_needs_reauthorization};
use super::*;
use crate::{
    catalogue::{HealthCheck, IdentitySpec},
    domain::events::EventKind,
    domain::grants::AccountIdentity,
    infra::db::now_ms,
    infra::tokens::random_u64,
    services::context::Context,
    services::oauth::{self, ClientCredentials, IdentityError},
    store::connections::missing_scopes,
    store::connections::record_event,
};
use secrecy::ExposeSecret;

/// Checks a long-lived token at the provider: a dead token makes the
/// connection `needs_reauthorization`; granted scopes are re-read, and a new
/// shortfall against the configured scopes is recorded.
#[tracing::instrument(name = "health_check", skip_all, fields(connection_id = %id))]
pub async fn health_check(state: &Context, id: &str) -> Result<(), CareError> {
    let result = check_health(state, id).await;
    if let Err(e @ (CareError::Internal(_) | CareError::Unavailable { .. })) = &result {
        // Not the token's fault (a token that does not open, the
        // configuration switched off or broken): logged, and checked again
        // later, so that it does not take a place in every pass.
        tracing::error!(connection_id = %id, error = %e, "health check could not be run; checking again later");
        let care = &state.settings.token_care;
        let later = now_ms().saturating_add(care.health_check_interval_ms.min(15 * 60 * 1000));
        let backed_off = sqlx::query("UPDATE connections SET next_check_at = $1 WHERE id = $2")
            .bind(later)
            .bind(id)
            .execute(state.db.pool())
            .await;
        if let Err(e) = backed_off {
            tracing::error!(connection_id = %id, error = %e, "postponing a health check failed");
        }
    }
    // granted scopes, status or the next check may have changed
    state.caches.connection_changed(id);
    result
}

async fn check_health(state: &Context, id: &str) -> Result<(), CareError> {
    let care = &state.settings.token_care;
    let row = load(&state.db, id)
        .await
        .map_err(internal)?
        .ok_or(CareError::Revoked)?;
    row.check_status()?;
    let client = client_of(state, &row.app_id, &row.provider_config_id).await?;
    let token = row.usable(&state.keyring)?;
    let Some(checked) = ask_provider(state, &client, &row, &token).await else {
        return Ok(());
    };
    let outcome = match &checked {
        Ok(_) => "healthy",
        Err(IdentityError::Unauthorized) => "needs_reauthorization",
        Err(_) => "transient_failure",
    };
    metrics::counter!("oauth_vault_health_checks_total",
        "provider" => client.config.provider.clone(), "outcome" => outcome)
    .increment(1);
    let now = now_ms();
    // spread checks out: ±10 % of the interval
    let spread = care.health_check_interval_ms / 10;
    let next = now
        + care.health_check_interval_ms
        + if spread > 0 {
            (random_u64() % (2 * spread as u64 + 1)) as i64 - spread
        } else {
            0
        };
    match checked {
        Err(IdentityError::Unauthorized) => {
            sqlx::query(
                "UPDATE connections SET last_checked_at = $1, next_check_at = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(next)
            .bind(&row.id)
            .execute(state.db.pool())
            .await
            .map_err(internal)?;
            mark_needs_reauthorization(
                state,
                &row,
                "Health check: the provider no longer accepts the token",
            )
            .await
        }
        Err(e) => {
            // The provider is unwell, not the token: look again sooner.
            tracing::warn!(connection_id = %row.id, error = %e, "health check failed");
            sqlx::query("UPDATE connections SET next_check_at = $1 WHERE id = $2")
                .bind(now + care.health_check_interval_ms.min(15 * 60 * 1000))
                .bind(&row.id)
                .execute(state.db.pool())
                .await
                .map_err(internal)?;
            Ok(())
        }
        Ok(identity) => record_healthy(state, &row, &client, identity, now, next).await,
    }
}

/// Asks the provider whether the token works, the way its definition says;
/// `None` when it defines no check.
async fn ask_provider(
    state: &Context,
    client: &ProviderClient,
    row: &super::model::TokenRow,
    token: &Usable,
) -> Option<Result<AccountIdentity, IdentityError>> {
    let profile = client.profile_for(row).ok()?;
    let (config, profile) = (&client.config, &profile);
    match profile.tokens.health_check {
        HealthCheck::None => None,
        HealthCheck::Identity => {
            let spec = profile.identity.as_ref()?;
            Some(
                oauth::identify_for(
                    &state.http,
                    profile,
                    spec,
                    &token.token_type,
                    &token.access_token,
                )
                .await,
            )
        }
        HealthCheck::Introspection => {
            let url = profile.oauth.introspection_url.clone()?;
            // RFC 7662: `active`, `scope` and `sub`, unless the definition
            // names other fields
            let spec = profile.identity.clone().unwrap_or(IdentitySpec {
                source: Default::default(),
                url: url.clone(),
                method: Default::default(),
                body: None,
                account_id: "sub".into(),
                account_name: None,
                account_slug: None,
                account_picture: None,
                scopes: Some("scope".into()),
                active: Some("active".into()),
            });
            let credentials = ClientCredentials {
                client_id: &config.client_id,
                client_secret: &client.secret,
            };
            let token = vec![("token", token.access_token.expose_secret())];
            Some(
                match oauth::client_post(&state.http, &url, profile, &credentials, token).await {
                    Ok(fetched) => oauth::read_identity(&spec, &fetched),
                    Err(e) => Err(IdentityError::Outbound(e)),
                },
            )
        }
    }
}

/// The token works: stores when it was checked and the scopes it grants,
/// and records a scope shortfall that is new.
async fn record_healthy(
    state: &Context,
    row: &TokenRow,
    client: &ProviderClient,
    identity: AccountIdentity,
    now: i64,
    next: i64,
) -> Result<(), CareError> {
    let configured = &client.config.scopes;
    let definition = client.profile.definition.as_deref();
    let before_granted: Option<Vec<String>> = row
        .granted_scopes
        .as_ref()
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    let before = missing_scopes(configured, before_granted.as_deref(), definition);
    let granted = identity.scopes;
    let after = missing_scopes(configured, granted.as_deref(), definition);
    let mut tx = state.db.begin().await.map_err(internal)?;
    sqlx::query(
        "UPDATE connections SET last_checked_at = $1, next_check_at = $2, granted_scopes = COALESCE($3, granted_scopes) WHERE id = $4",
    )
    .bind(now)
    .bind(next)
    .bind(granted.map(|g| g.join(" ")))
    .bind(&row.id)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    let new_missing: Vec<&str> = after
        .iter()
        .filter(|s| !before.contains(s))
        .map(String::as_str)
        .collect();
    if !new_missing.is_empty() {
        let message = format!(
            "Scope mismatch: the provider no longer grants {}",
            new_missing.join(", ")
        );
        record_event(&mut tx, row.event(EventKind::ScopeMismatch, &message))
            .await
            .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;
    Ok(())
}
