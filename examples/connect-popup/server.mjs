// An app of yours, in miniature: a backend that creates connect sessions
// with its API key, and a page that opens the vault's connect popup.
//
//   OAUTH_VAULT_URL=http://127.0.0.1:3000 OAUTH_VAULT_API_KEY=ovk_... \
//     node examples/connect-popup/server.mjs
//
// Then add this app's address with a trailing slash (printed at start, e.g.
// http://127.0.0.1:4000/) to the vault app's allowed return URLs (portal ›
// Settings): the popup tells its outcome to that origin only, and a blocked
// popup comes back there. PORT picks the port (0: any free one). Node.js 18
// or later; no packages.

import http from "node:http";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const VAULT = (process.env.OAUTH_VAULT_URL || "http://127.0.0.1:3000").replace(/\/$/, "");
const KEY = process.env.OAUTH_VAULT_API_KEY;
const PORT = Number(process.env.PORT ?? 4000);
const HERE = path.dirname(fileURLToPath(import.meta.url));
if (!KEY) {
  console.error("Set OAUTH_VAULT_API_KEY to an API key of your vault app (ovk_...).");
  process.exit(2);
}

/** The backend's one call to the vault: a connect session for this user. */
async function createSession(origin, endUserId) {
  const res = await fetch(`${VAULT}/v1/connect/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ end_user_id: endUserId, return_url: `${origin}/` }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${body.error?.code}: ${body.error?.message}`);
  return body;
}

async function page() {
  const html = await readFile(path.join(HERE, "index.html"), "utf8");
  return html.replaceAll("{{VAULT}}", VAULT);
}

const server = http.createServer(async (req, res) => {
  const origin = `http://${req.headers.host}`;
  try {
    if (req.method === "GET" && (req.url === "/" || req.url.startsWith("/?"))) {
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        // the page runs its own script and the vault's connect.js only
        "content-security-policy": `default-src 'self'; script-src 'self' ${VAULT}; frame-ancestors 'none'`,
        // a popup keeps talking to this page (same-origin would cut it off)
        "cross-origin-opener-policy": "same-origin-allow-popups",
      });
      res.end(await page());
    } else if (req.method === "GET" && req.url === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      res.end(await readFile(path.join(HERE, "app.js")));
    } else if (req.method === "POST" && req.url === "/api/connect-session") {
      // a real app takes the end user's id from its own sign-in
      const session = await createSession(origin, "demo-user");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: session.token }));
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: String(e.message || e) }));
  }
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`Example app is running at http://127.0.0.1:${server.address().port}/`);
});
