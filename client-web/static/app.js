// Alcove web client shell. The messaging client (built on the WebAssembly
// crypto module) replaces this page; until then it confirms the server is up
// and never puts the invite token anywhere but the URL fragment it came in.
"use strict";

async function main() {
  const app = document.getElementById("app");
  const status = document.createElement("p");
  try {
    const r = await fetch("/readyz", { cache: "no-store" });
    status.textContent = r.ok ? "The Alcove server is running." : "The server is starting…";
  } catch (_) {
    status.textContent = "The server cannot be reached.";
  }
  app.replaceChildren();
  const h1 = document.createElement("h1");
  h1.textContent = "Alcove";
  app.append(h1, status);
}

main();
