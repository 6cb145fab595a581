/*! OAuth Vault connect.js: let an end user connect an account from your own
 * page, in a popup.
 *
 *   <script src="https://vault.example.com/connect.js"></script>
 *   const { connectionId, provider } = await OAuthVault.connect({ sessionToken });
 *
 * Options: sessionToken (from POST /v1/connect/sessions) or connectUrl;
 * baseUrl (the vault's public URL; by default where this script came from);
 * mode: "auto" (a popup, a full-page redirect on mobile), "popup" or
 * "redirect"; fallback when the popup is blocked: "redirect" (default) or
 * "none"; onRedirect: called before the page navigates away.
 *
 * Resolves with { connectionId, provider }, or { redirected: true } when the
 * page goes to the connect page instead (the end user comes back to the
 * session's return_url). Rejects with an Error whose `code` is "cancelled"
 * (the popup was closed), "popup_blocked" (with fallback "none"),
 * "expired" or "used" (create a new session), "connection_revoked",
 * "invalid_options", or the connect flow's own code ("access_denied", ...).
 */
(function (root) {
  "use strict";
  var script = typeof document !== "undefined" ? document.currentScript : null;
  var scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : null;
  var TOKEN = /^ovcs_[A-Za-z0-9_-]{16,100}$/;
  var WIDTH = 520;
  var HEIGHT = 720;

  function fail(code, message) {
    var error = new Error(message || code);
    error.name = "OAuthVaultConnectError";
    error.code = code;
    return error;
  }

  var WORDS = {
    cancelled: "The connect window was closed before the account was connected.",
    popup_blocked: "The browser blocked the connect window.",
    expired: "The connect session has expired: create a new one.",
    used: "The connect session was already used: create a new one."
  };

  // Where the connect page is, and the origin its messages come from.
  function target(options) {
    var url;
    if (options.connectUrl) {
      url = new URL(options.connectUrl, location.href);
    } else {
      if (!TOKEN.test(options.sessionToken || "")) {
        throw fail("invalid_options", "Give the sessionToken of a connect session (ovcs_...).");
      }
      var base = options.baseUrl || scriptOrigin;
      if (!base) throw fail("invalid_options", "Give baseUrl: the vault's public URL.");
      url = new URL("/connect/" + options.sessionToken, base);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw fail("invalid_options", "The connect URL must be http(s).");
    }
    url.search = "";
    url.hash = "";
    return { origin: url.origin, page: url.href };
  }

  function mobile() {
    return /Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent || "");
  }

  function redirect(where, options, resolve) {
    if (typeof options.onRedirect === "function") options.onRedirect();
    resolve({ redirected: true });
    setTimeout(function () { location.assign(where.page); }, 0);
  }

  function openPopup(where) {
    var left = (window.screenX || 0) + Math.max(0, ((window.outerWidth || WIDTH) - WIDTH) / 2);
    var top = (window.screenY || 0) + Math.max(0, ((window.outerHeight || HEIGHT) - HEIGHT) / 2);
    var features = "popup=yes,width=" + WIDTH + ",height=" + HEIGHT +
      ",left=" + Math.round(left) + ",top=" + Math.round(top);
    try {
      return window.open(where.page + "?display=popup", "oauth-vault-connect", features);
    } catch (e) {
      return null;
    }
  }

  function connect(options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      var where;
      try {
        where = target(options);
      } catch (e) {
        reject(e);
        return;
      }
      var mode = options.mode || "auto";
      if (mode === "redirect" || (mode === "auto" && mobile())) {
        redirect(where, options, resolve);
        return;
      }
      var popup = openPopup(where);
      if (!popup || popup.closed) {
        if (options.fallback === "none") reject(fail("popup_blocked", WORDS.popup_blocked));
        else redirect(where, options, resolve);
        return;
      }
      var settled = false;
      var watch;
      function finish() {
        settled = true;
        clearInterval(watch);
        window.removeEventListener("message", listen);
      }
      function listen(event) {
        // only the vault's page in this very popup may answer
        if (settled || event.origin !== where.origin || event.source !== popup) return;
        var data = event.data;
        if (!data || data.source !== "oauth-vault" || data.type !== "connect.result") return;
        finish();
        if (data.status === "success") {
          resolve({ connectionId: data.connectionId, provider: data.provider });
        } else {
          var code = String(data.error || "unknown_error");
          reject(fail(code, WORDS[code] || "The account could not be connected (" + code + ")."));
        }
      }
      window.addEventListener("message", listen);
      watch = setInterval(function () {
        if (!popup.closed) return;
        clearInterval(watch);
        // a message posted just before the popup closed may still be queued
        setTimeout(function () {
          if (settled) return;
          finish();
          reject(fail("cancelled", WORDS.cancelled));
        }, 500);
      }, 250);
      try { popup.focus(); } catch (e) { /* focus is a nicety */ }
    });
  }

  root.OAuthVault = root.OAuthVault || {};
  root.OAuthVault.connect = connect;
})(typeof window !== "undefined" ? window : globalThis);
