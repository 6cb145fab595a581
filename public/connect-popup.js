// The last page of a connect popup (served by the vault, for its own connect
// pages only): tells the page that opened the popup how the connection went,
// addressed to the app's own origins, then closes the popup. Without an
// opener it goes on to the app's return URL, as the page flow does.
(function () {
  "use strict";
  var outcome = document.getElementById("oauth-vault-outcome");
  if (!outcome) return;
  var data = outcome.dataset;
  var message = { source: "oauth-vault", type: "connect.result", status: data.status };
  if (data.status === "success") {
    message.connectionId = data.connectionId;
    message.provider = data.provider;
  } else {
    message.error = data.error || "unknown_error";
  }
  var origins = (data.origins || "").split(" ").filter(Boolean);
  var opener = window.opener;
  if (opener && !opener.closed && origins.length > 0) {
    origins.forEach(function (origin) {
      // a message to an origin the opener is not on is dropped by the browser
      opener.postMessage(message, origin);
    });
    window.close();
  } else if (data["return"]) {
    window.location.replace(data["return"]);
  }
})();
