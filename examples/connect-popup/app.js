// The page's part: ask our backend for a connect session, then let the
// vault's connect.js open the popup and wait for the outcome.
const result = document.getElementById("result");
const button = document.getElementById("connect");

// Back from a full-page redirect (the popup was blocked, or on mobile).
const back = new URLSearchParams(location.search);
if (back.get("status") === "success") {
  const how = sessionStorage.getItem("connect-redirected") ? " after a redirect" : "";
  result.textContent = `Connected ${back.get("connection_id")}${how}`;
} else if (back.get("status") === "error") {
  result.textContent = `Not connected: ${back.get("error")}`;
}

button.addEventListener("click", async () => {
  button.disabled = true;
  result.textContent = "Connecting…";
  try {
    const answer = await fetch("/api/connect-session", { method: "POST" });
    const session = await answer.json();
    if (!answer.ok) throw Object.assign(new Error(session.error), { code: "backend" });
    const outcome = await OAuthVault.connect({
      sessionToken: session.token,
      onRedirect: () => {
        // the popup was blocked: the page goes to the vault and comes back
        sessionStorage.setItem("connect-redirected", "1");
        result.textContent = "The popup was blocked: continuing in this window…";
      },
    });
    if (!outcome.redirected) {
      result.textContent = `Connected ${outcome.connectionId} (${outcome.provider})`;
    }
  } catch (e) {
    result.textContent = `Not connected: ${e.code || e.message}`;
  } finally {
    button.disabled = false;
  }
});
