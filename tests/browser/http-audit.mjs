// The GraphQL-over-HTTP spec audit (npm graphql-http's `auditServer`) against the real
// server (issue 8): every MUST passes, or the run fails; SHOULDs that fail are listed.
//
//   node http-audit.mjs <path to the msingi binary>

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { auditServer } from "graphql-http";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node http-audit.mjs <msingi binary>");
  process.exit(2);
}
const port = await new Promise((resolve, reject) => {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
  probe.on("error", reject);
});
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), "msingi-http-audit-"));
const server = spawn(binary, ["serve"], {
  env: {
    ...process.env,
    MSINGI_BIND: `127.0.0.1:${port}`,
    MSINGI_DATA_DIR: dataDir,
    DATABASE_URL: `sqlite://${dataDir}/msingi.db?mode=rwc`,
    REDIS_URL: "",
    RUST_LOG: "error",
  },
  stdio: ["ignore", "inherit", "inherit"],
});
let exit = 0;
try {
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error("the server did not start");
    await new Promise((r) => setTimeout(r, 150));
  }
  const results = await auditServer({ url: `${base}/graphql` });
  const failures = results.filter((r) => r.status === "error");
  const warnings = results.filter((r) => r.status === "warn" || r.status === "notice");
  for (const r of warnings) console.log(`  ${r.status}: ${r.name}: ${r.reason}`);
  for (const r of failures) console.log(`  FAILED: ${r.name}: ${r.reason}`);
  console.log(
    `graphql-http audit: ${results.length - failures.length - warnings.length} ok, ` +
      `${warnings.length} SHOULD/MAY not met, ${failures.length} MUST failed`,
  );
  if (failures.length) exit = 1;
} catch (e) {
  console.error(`graphql-http audit FAILED: ${e.stack || e}`);
  exit = 1;
} finally {
  server.kill("SIGTERM");
}
process.exit(exit);
