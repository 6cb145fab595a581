//! The admin area: every connection of the instance, users, the audit log.
//! Only administrators see it; to anyone else, signed in or not, every admin
//! page, form and server function answers 404.

use crate::domain::admin::{
    AuditPage, AuditQuery, ConnectionDetail, ConnectionQuery, ConnectionsPage, DeliveriesQuery,
    InvitationsPage, Overview, UsersPage,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub mod ssr;
mod views;

pub use views::{
    AdminAudit, AdminConnectionPage, AdminConnections, AdminInvitations, AdminOverview, AdminUsers,
};

#[server(endpoint = "admin/overview")]
pub async fn overview_data() -> Result<Overview, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    crate::store::admin::overview(&state.db, &state.catalogue, user.email)
        .await
        .map_err(internal)
}

#[server(endpoint = "admin/connections")]
pub async fn connections_data(
    #[server(default)] query: ConnectionQuery,
) -> Result<ConnectionsPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let (rows, next) = crate::store::admin::connections(&state.db, &state.catalogue, &query, 50)
        .await
        .map_err(internal)?;
    Ok(ConnectionsPage {
        email: user.email,
        rows,
        next,
    })
}

#[server(endpoint = "admin/connection")]
pub async fn connection_data(
    id: String,
    #[server(default)] query: DeliveriesQuery,
) -> Result<ConnectionDetail, ServerFnError> {
    use crate::{
        domain::paging::{Cursor, PageAt, Pager, PAGE_SIZE},
        web::session::{internal, not_found},
    };
    let (state, user) = ssr::require_admin().await?;
    let row = crate::store::admin::find(&state.db, &state.catalogue, &id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let events = crate::store::connections::events(&state.db, &row.connection.app_id, &id)
        .await
        .map_err(internal)?;
    let (page, bad_cursor) = PageAt::from_query(query.older.as_deref(), query.newer.as_deref());
    let (deliveries, more) =
        crate::store::admin::deliveries(&state.db, &row.connection.app_id, &id, PAGE_SIZE, &page)
            .await
            .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        deliveries.first().map(|d| Cursor::new(d.created_at, &d.id)),
        deliveries.last().map(|d| Cursor::new(d.created_at, &d.id)),
    );
    pager.notices = bad_cursor.into_iter().collect();
    Ok(ConnectionDetail {
        email: user.email,
        row,
        events,
        deliveries,
        pager,
    })
}

#[server(endpoint = "admin/users")]
pub async fn users_data() -> Result<UsersPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let users = crate::store::users::list(&state.db)
        .await
        .map_err(internal)?;
    Ok(UsersPage {
        email: user.email,
        me: user.id,
        users,
    })
}

#[server(endpoint = "admin/invitations")]
pub async fn invitations_data() -> Result<InvitationsPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let invitations = crate::store::account_links::invitations(&state.db)
        .await
        .map_err(internal)?;
    Ok(InvitationsPage {
        email: user.email,
        signup: state.settings.signup,
        invitations,
    })
}

#[server(endpoint = "admin/audit")]
pub async fn audit_data(#[server(default)] query: AuditQuery) -> Result<AuditPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    use crate::domain::paging::{Cursor, PageAt, Pager, PAGE_SIZE};
    let filter = ssr::audit_filter(&query);
    let (page, notice) = PageAt::from_query(query.older.as_deref(), query.newer.as_deref());
    let (entries, more) = crate::store::audit::page_of(&state.db, &filter, PAGE_SIZE, &page)
        .await
        .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        entries.first().map(|e| Cursor::new(e.at, &e.id)),
        entries.last().map(|e| Cursor::new(e.at, &e.id)),
    );
    pager.notices.extend(notice);
    // the export is of the whole filtered log, whichever page this is
    let filters = AuditQuery {
        older: None,
        newer: None,
        ..query
    };
    let params = serde_urlencoded::to_string(&filters).unwrap_or_default();
    Ok(AuditPage {
        email: user.email,
        entries,
        csv_link: format!("/admin/audit.csv?{params}"),
        pager,
    })
}

/// The admin area's pages, for the router.
#[component(transparent)]
pub fn AdminRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/admin") view=AdminOverview ssr=SsrMode::Async />
        <Route path=path!("/admin/connections") view=AdminConnections ssr=SsrMode::Async />
        <Route path=path!("/admin/connections/:id") view=AdminConnectionPage ssr=SsrMode::Async />
        <Route path=path!("/admin/users") view=AdminUsers ssr=SsrMode::Async />
        <Route path=path!("/admin/invitations") view=AdminInvitations ssr=SsrMode::Async />
        <Route path=path!("/admin/audit") view=AdminAudit ssr=SsrMode::Async />
    }
    .into_inner()
}
