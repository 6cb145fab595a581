//! Sign-in and sign-up. The forms arrive with accounts; until then these pages
//! say so plainly instead of pretending to work.

use crate::components::layout::PublicPage;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn Login() -> impl IntoView {
    view! {
        <Title text="Sign in" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Sign in"</h1>
                <div class="alert alert-info" role="status">
                    "Developer accounts are not available on this instance yet."
                </div>
                <a href="/">"Back to the start page"</a>
            </section>
        </PublicPage>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    view! {
        <Title text="Sign up" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Create an account"</h1>
                <div class="alert alert-info" role="status">
                    "Developer accounts are not available on this instance yet."
                </div>
                <a href="/">"Back to the start page"</a>
            </section>
        </PublicPage>
    }
}
