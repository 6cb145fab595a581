// The connect popup, for the browser: opens a connect session's page in a
// popup and resolves when the end user is done. The logic is the vault's
// own script (public/connect.js, served by every vault as /connect.js),
// which the build copies beside this module as connect-global.js; it
// defines `window.OAuthVault.connect`. Browser code only: the script needs
// `window`.
import "./connect-global.js";

/**
 * Why `connect` failed: the end user closed the popup (`cancelled`), the
 * popup was blocked with `fallback: "none"`, the session is `expired` or
 * `used` (create a new one), the connection was disconnected, the options
 * are wrong, or the connect flow's own code (`access_denied`, a provider's
 * OAuth error code, ...).
 */
export type ConnectErrorCode =
  | "cancelled"
  | "popup_blocked"
  | "expired"
  | "used"
  | "access_denied"
  | "connection_revoked"
  | "invalid_options"
  | (string & {});

/** The error `connect` rejects with (its `name` is `OAuthVaultConnectError`). */
export interface ConnectError extends Error {
  code: ConnectErrorCode;
}

interface CommonOptions {
  /**
   * `auto` (the default): a popup, or the whole page on mobile; `popup`;
   * `redirect`: the whole page goes to the connect page.
   */
  mode?: "auto" | "popup" | "redirect";
  /** When the popup is blocked: `redirect` (the default) sends the page to the connect page; `none` rejects with `popup_blocked`. */
  fallback?: "redirect" | "none";
  /** Called just before the page navigates to the connect page. */
  onRedirect?: () => void;
}

export type ConnectOptions = CommonOptions &
  (
    | {
        /** The `token` of a connect session your backend created (`ovcs_…`). */
        sessionToken: string;
        /** The vault's public URL, e.g. `https://vault.example.com`. */
        baseUrl: string;
      }
    | {
        /** Or the session's `connect_url` as it is. */
        connectUrl: string;
      }
  );

/** The new connection, or `{ redirected: true }` when the page went to the connect page instead of a popup. */
export type ConnectResult = { connectionId: string; provider: string } | { redirected: true };

interface Global {
  OAuthVault?: { connect?: (options: ConnectOptions) => Promise<ConnectResult> };
}

/**
 * Lets the end user connect an account in a popup. Call it from a click
 * handler, so that the browser allows the popup. Resolves with the new
 * connection; rejects with a {@link ConnectError}.
 */
export function connect(options: ConnectOptions): Promise<ConnectResult> {
  const run = (globalThis as Global).OAuthVault?.connect;
  if (typeof run !== "function") {
    return Promise.reject(new Error("OAuthVault.connect is missing: this build of the package has no connect script"));
  }
  return run(options);
}
