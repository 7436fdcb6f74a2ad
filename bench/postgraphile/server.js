// PostGraphile v4 serving the same tables as the run-time role msingi_app (row-level
// security FORCEd): each request verifies an HS256 JWT and binds its tenant with
// pgSettings, i.e. BEGIN; set_config('app.tenant_id', …, true); the query; COMMIT.
const http = require("http");
const jwt = require("jsonwebtoken");
const { postgraphile } = require("postgraphile");

const secret = process.env.PGL_JWT_SECRET;
const handler = postgraphile(process.env.PGL_DATABASE_URL, "public", {
  pgSettings: async (req) => {
    const token = (req.headers.authorization || "").replace(/^Bearer /, "");
    const claims = jwt.verify(token, secret, { algorithms: ["HS256"] });
    return { "app.tenant_id": claims.tid };
  },
  disableDefaultMutations: true,
  disableQueryLog: true,
  retryOnInitFail: false,
  graphiql: false,
});
http.createServer(handler).listen(Number(process.env.PGL_PORT), "127.0.0.1");
