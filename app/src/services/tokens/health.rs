//! Health checks of long-lived tokens: a dead token needs reauthorization;
//! granted scopes are re-read and a new shortfall is recorded.

use super::refresh::{client_of, mark_needs_reauthorization};
use super::*;
use crate::{
    domain::events::EventKind,
    infra::db::now_ms,
    services::context::Context,
    services::oauth::{self, ClientCredentials, IdentityError},
    store::connections::record_event,
};
use secrecy::ExposeSecret;

/// Checks a long-lived token at the provider: a dead token makes the
/// connection `needs_reauthorization`; granted scopes are re-read, and a new
/// shortfall against the configured scopes is recorded.
pub async fn health_check(state: &Context, id: &str) -> Result<(), CareError> {
    let result = check_health(state, id).await;
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
    let (config, profile, secret) = (&client.config, &client.profile, &client.secret);
    let token = row.usable(&state.keyring)?;
    let checked = match profile.tokens.health_check {
        crate::catalogue::HealthCheck::None => return Ok(()),
        crate::catalogue::HealthCheck::Identity => match &profile.identity {
            Some(spec) => {
                oauth::identify(&state.http, spec, &token.token_type, &token.access_token).await
            }
            None => return Ok(()),
        },
        crate::catalogue::HealthCheck::Introspection => {
            let Some(url) = profile.oauth.introspection_url.clone() else {
                return Ok(());
            };
            let spec = profile
                .identity
                .clone()
                .unwrap_or(crate::catalogue::IdentitySpec {
                    url: url.clone(),
                    account_id: "sub".into(),
                    account_name: None,
                    account_slug: None,
                    account_picture: None,
                    scopes: Some("scope".into()),
                    active: Some("active".into()),
                });
            let client = ClientCredentials {
                client_id: &config.client_id,
                client_secret: secret,
            };
            match oauth::client_post(
                &state.http,
                &url,
                profile,
                &client,
                vec![("token", token.access_token.expose_secret())],
            )
            .await
            {
                Ok(fetched) => oauth::read_identity(&spec, &fetched),
                Err(e) => Err(IdentityError::Outbound(e)),
            }
        }
    };
    let now = now_ms();
    // spread checks out: ±10 % of the interval
    let spread = care.health_check_interval_ms / 10;
    let next = now
        + care.health_check_interval_ms
        + if spread > 0 {
            (now % (2 * spread + 1)) - spread
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
        Ok(identity) => {
            let definition = profile.definition.as_deref();
            let before = crate::store::connections::missing_scopes(
                &config.scopes,
                row.granted_scopes
                    .as_ref()
                    .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    .as_deref(),
                definition,
            );
            let granted = identity.scopes.clone();
            let after = crate::store::connections::missing_scopes(
                &config.scopes,
                granted.as_deref(),
                definition,
            );
            let mut tx = state.db.pool().begin().await.map_err(internal)?;
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
            let new_missing: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
            if !new_missing.is_empty() {
                let message = format!(
                    "Scope mismatch: the provider no longer grants {}",
                    new_missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                record_event(&mut tx, row.event(EventKind::ScopeMismatch, &message))
                    .await
                    .map_err(internal)?;
            }
            tx.commit().await.map_err(internal)?;
            Ok(())
        }
    }
}
