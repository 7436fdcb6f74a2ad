// GraphiQL in a real browser, as a person uses it (issue 8): Debian's chromium, driven by
// playwright-core, with every request that is not to loopback blocked.
//
//   node check.mjs <path to the msingi binary>
//
// Starts the server on a free port (SQLite in a temporary directory, a platform admin),
// loads /graphiql, types `register` into the editor and runs it, types the token into the
// headers editor as {"Authorization": "Bearer …"}, runs `me`, opens a `myPermissionsChanged`
// subscription and sees the push another client triggers, and opens the docs explorer.
// Screenshots go to ./screenshots (ignored by git). Exits non-zero on any failure.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node check.mjs <msingi binary>");
  process.exit(2);
}
const ADMIN_EMAIL = "root@browser.example";
const ADMIN_PASSWORD = "browser check admin";
const screenshots = new URL("./screenshots/", import.meta.url).pathname;
mkdirSync(screenshots, { recursive: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitFor(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), "msingi-browser-"));
const server = spawn(binary, ["serve"], {
  env: {
    ...process.env,
    MSINGI_BIND: `127.0.0.1:${port}`,
    MSINGI_DATA_DIR: dataDir,
    DATABASE_URL: `sqlite://${dataDir}/msingi.db?mode=rwc`,
    MSINGI_ADMIN_EMAIL: ADMIN_EMAIL,
    MSINGI_ADMIN_PASSWORD: ADMIN_PASSWORD,
    REDIS_URL: "",
    RUST_LOG: "warn",
  },
  stdio: ["ignore", "inherit", "inherit"],
});
let failed = false;
const stop = () => server.kill("SIGTERM");

async function gql(query, variables = {}, token) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

let browser;
try {
  await waitFor(async () => (await fetch(`${base}/readyz`)).ok, "the server");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const blocked = [];
  await context.route("**/*", (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === "127.0.0.1" || host === "localhost") return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  if (process.env.BROWSER_DEBUG) {
    page.on("console", (m) => console.error(`console.${m.type()}: ${m.text()}`));
    page.on("request", (r) => console.error(`request: ${r.method()} ${r.url()}`));
  }

  await page.goto(`${base}/graphiql`);
  await page.waitForSelector(".graphiql-container", { timeout: 20000 });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror");

  // Typing replaces the first tab's example with what a person types.
  async function typeInto(selector, text) {
    await page.click(`${selector} .CodeMirror`);
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(text, { delay: 5 });
  }
  const editorText = (selector) =>
    page.evaluate((s) => document.querySelector(`${s} .CodeMirror`).CodeMirror.getValue(), selector);
  const result = () => editorText(".result-window");
  async function run() {
    // GraphiQL re-reads the operation name a moment after the last keystroke.
    await page.waitForTimeout(800);
    await page.click(".graphiql-query-editor .CodeMirror");
    await page.keyboard.press("Control+Enter");
  }

  const email = "browser@duka.example";
  await typeInto(
    ".graphiql-query-editor",
    `mutation Register { register(input: {email: "${email}", password: "browser password", name: "B", tenantName: "Browser Duka"}) { accessToken activeTenant { id } } }`,
  );
  await run();
  const registered = await waitFor(async () => {
    const text = await result();
    return text.includes("accessToken") ? JSON.parse(text) : null;
  }, "the register result");
  const token = registered.data.register.accessToken;
  const tenantId = registered.data.register.activeTenant.id;
  await page.screenshot({ path: join(screenshots, "1-register.png") });

  // The headers editor, typed exactly as a person does.
  await page.getByRole("button", { name: "Headers" }).first().click();
  const headersEditor = ".graphiql-editor-tool .graphiql-editor:not(.hidden)";
  await page.waitForSelector(`${headersEditor} .CodeMirror`);
  await typeInto(headersEditor, `{"Authorization": "Bearer ${token}"}`);
  const typedHeaders = await editorText(headersEditor);
  if (JSON.parse(typedHeaders).Authorization !== `Bearer ${token}`) {
    throw new Error(`the headers editor holds ${typedHeaders}`);
  }

  await typeInto(".graphiql-query-editor", "query Me { me { user { email } } }");
  await run();
  await waitFor(async () => (await result()).includes(email), "me over HTTP with the typed token");
  await page.screenshot({ path: join(screenshots, "2-me.png") });

  // A subscription, and a push triggered by another client: a platform admin switches a
  // module on, which changes the owner's effective permissions.
  await typeInto(".graphiql-query-editor", "subscription Permissions { myPermissionsChanged }");
  await run();
  await new Promise((r) => setTimeout(r, 1500));
  const admin = await gql(
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }",
    { e: ADMIN_EMAIL, p: ADMIN_PASSWORD },
  );
  const adminToken = admin.data.login.accessToken;
  const switched = await gql(
    "mutation($t: ID!) { setTenantModule(tenantId: $t, module: \"metering\", enabled: true) { modules } }",
    { t: tenantId },
    adminToken,
  );
  if (switched.errors) throw new Error(JSON.stringify(switched.errors));
  await waitFor(async () => (await result()).includes("usage.read"), "the pushed permissions");
  await page.screenshot({ path: join(screenshots, "3-subscription.png") });
  await run(); // stop the subscription

  // The docs explorer shows the schema.
  await page.click('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]');
  await waitFor(
    async () => (await page.textContent(".graphiql-doc-explorer"))?.includes("Query"),
    "the docs explorer",
  );
  await page.screenshot({ path: join(screenshots, "4-docs.png") });

  if (blocked.length) throw new Error(`GraphiQL asked for non-loopback URLs: ${blocked.join(", ")}`);
  if (consoleErrors.length) throw new Error(`page errors: ${consoleErrors.join("; ")}`);
  console.log("browser check passed: register, headers, me, subscription push, docs explorer");
} catch (e) {
  failed = true;
  console.error(`browser check FAILED: ${e.stack || e}`);
  try {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages[0]) {
      const state = await pages[0].evaluate(() => ({
        editors: [...document.querySelectorAll(".CodeMirror")].map((e) => [e.parentElement.className, e.CodeMirror.getValue()]),
        sections: [...document.querySelectorAll("section")].map((s) => [s.className, s.getAttribute("aria-label")]),
      }));
      console.error(JSON.stringify(state, null, 1));
    }
  } catch (inner) {
    console.error(`(no page state: ${inner})`);
  }
  try {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages[0]) await pages[0].screenshot({ path: join(screenshots, "failure.png") });
  } catch {}
} finally {
  if (browser) await browser.close();
  stop();
}
process.exit(failed ? 1 : 0);
