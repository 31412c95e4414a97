// Starts the real `alcove` binary on a fresh data directory and reads its
// listening address and setup link from stdout.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function binaryPath() {
  const bin = process.env.ALCOVE_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repoRoot, "target"), "debug", "alcove");
  if (!existsSync(bin)) throw new Error(`alcove binary not found at ${bin}; run cargo build -p alcove-server`);
  return bin;
}

// The server checks the Origin of cookie requests against its public URL,
// which it derives from --listen; so the test picks a free port rather than
// port 0 (whose real port the public URL would not know).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server. Returns {url, setupLink, dataDir, stop(), output()}. `env` adds
 * environment variables (e.g. a short idle timeout).
 */
export async function startServer({ env = {}, timeoutMs = 30_000 } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "alcove-browser-"));
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    try {
      return await launch(dataDir, port, env, timeoutMs);
    } catch (e) {
      if (attempt >= 2 || !/address in use|Address already in use/i.test(e.message)) {
        rmSync(dataDir, { recursive: true, force: true });
        throw e;
      }
    }
  }
}

function launch(dataDir, port, env, timeoutMs) {
  const child = spawn(binaryPath(), ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, ALCOVE_LOG__FILTER: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let url = null;
  let setupLink = null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server did not start in ${timeoutMs} ms\n${stdout}\n${stderr}`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      child.kill("SIGTERM");
      reject(err);
    }
    const stop = () =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          rmSync(dataDir, { recursive: true, force: true });
          return done();
        }
        child.once("exit", () => {
          rmSync(dataDir, { recursive: true, force: true });
          done();
        });
        child.kill("SIGTERM");
      });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      for (const line of stdout.split("\n")) {
        const listen = line.match(/Alcove is listening on (http:\/\/\S+)/);
        if (listen) url = listen[1];
        if (line.includes("/invite#")) setupLink = line.trim();
      }
      if (url && setupLink) {
        clearTimeout(timer);
        // The setup link is printed with the public URL; use the address the
        // server reports it is listening on.
        const token = setupLink.slice(setupLink.indexOf("#") + 1);
        resolve({ url, setupLink: `${url}/invite#${token}`, dataDir, stop, output: () => stdout + stderr });
      }
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("exit", (code, signal) => {
      if (!url || !setupLink) fail(new Error(`server exited (${code ?? signal}) before it was ready\n${stdout}\n${stderr}`));
    });
  });
}
