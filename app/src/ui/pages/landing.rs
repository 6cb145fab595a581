use crate::ui::components::layout::PublicPage;
use leptos::prelude::*;
use leptos_meta::Title;

/// The language of the code sample on the landing page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SampleLang {
    Curl,
    Node,
}

const CURL_SAMPLE: &str =
    "curl https://vault.example.com/v1/connections/$CONNECTION_ID/access-token \\
  -H \"Authorization: Bearer $OAUTH_VAULT_API_KEY\"";

const NODE_SAMPLE: &str = "const res = await fetch(
  `https://vault.example.com/v1/connections/${connectionId}/access-token`,
  { headers: { Authorization: `Bearer ${process.env.OAUTH_VAULT_API_KEY}` } },
);
const { access_token } = await res.json();";

/// The public start page: what the product does, and where to sign in.
#[component]
pub fn Landing() -> impl IntoView {
    view! {
        <Title text="" />
        <PublicPage>
            <section class="hero">
                <h1>"OAuth Vault"</h1>
                <p class="lead">
                    "Connect your users' third-party accounts once. The vault keeps their OAuth tokens encrypted, keeps them alive, and hands your backend a working access token whenever it asks."
                </p>
                <div class="actions">
                    <a class="btn btn-primary btn-lg" href="/signup">"Create an account"</a>
                    <a class="btn btn-lg" href="/login">"Sign in"</a>
                </div>
            </section>

            <section class="features" aria-label="What the vault does">
                <article class="card">
                    <h2>"Encrypted at rest"</h2>
                    <p>"Client secrets and tokens are sealed with AES-256-GCM, each bound to its own row."</p>
                </article>
                <article class="card">
                    <h2>"Kept alive"</h2>
                    <p>"Refreshed before they expire, health-checked when they never do, and flagged when a user must reconnect."</p>
                </article>
                <article class="card">
                    <h2>"One API"</h2>
                    <p>"Your backend asks for a token — or proxies a call — with an API key. No OAuth code in your app."</p>
                </article>
            </section>

            <CodeSample />
        </PublicPage>
    }
}

/// A code sample with language tabs. The tabs only respond once the client has
/// hydrated (it is an island); without JavaScript the first sample stays
/// readable.
#[island]
fn CodeSample() -> impl IntoView {
    let (lang, set_lang) = signal(SampleLang::Curl);
    // Effects run in the browser only, so this flips once hydration is done.
    let (interactive, set_interactive) = signal(false);
    Effect::new(move |_| set_interactive.set(true));

    let tab = move |which: SampleLang, label: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                class="tab"
                aria-selected=move || (lang.get() == which).to_string()
                on:click=move |_| set_lang.set(which)
            >
                {label}
            </button>
        }
    };

    view! {
        <section class="panel" aria-labelledby="sample-title">
            <div class="panel-head">
                <h2 id="sample-title">"Get a token from your backend"</h2>
                <span
                    class="badge"
                    data-testid="hydration-status"
                    data-ready=move || interactive.get().to_string()
                >
                    {move || if interactive.get() { "Interactive" } else { "Static page" }}
                </span>
            </div>
            <div class="tabs" role="tablist">
                {tab(SampleLang::Curl, "curl")}
                {tab(SampleLang::Node, "Node.js")}
            </div>
            <pre class="code" data-testid="code-sample">
                <code>{move || match lang.get() {
                    SampleLang::Curl => CURL_SAMPLE,
                    SampleLang::Node => NODE_SAMPLE,
                }}</code>
            </pre>
        </section>
    }
}
