// Msingi's GraphiQL: the HTTP fetcher for queries and mutations, a small
// graphql-transport-ws client for subscriptions that sends the headers editor's contents
// (e.g. {"Authorization": "Bearer …"}) as the connection_init payload, the Explorer
// plugin, and a first tab that shows a newcomer the way in.
(function () {
  "use strict";
  var DEFAULT_QUERY = [
    "# Welcome to Msingi's GraphiQL.",
    "#",
    "# 1. Run `Register` below (or `login` if you have an account).",
    "# 2. Copy its accessToken into the Headers tab, exactly like this:",
    "#      {\"Authorization\": \"Bearer <accessToken>\"}",
    "# 3. Ask who you are with `Me`, and open the Docs or the Explorer on the left.",
    "#",
    "# Subscriptions (e.g. `subscription { myPermissionsChanged }`) use the same headers.",
    "",
    "mutation Register {",
    "  register(input: {email: \"you@example.com\", password: \"a long password\", name: \"You\", tenantName: \"My Business\"}) {",
    "    accessToken",
    "    activeTenant { id slug }",
    "  }",
    "}",
    "",
    "query Me {",
    "  me { user { email } activeTenant { name } permissions }",
    "}",
    "",
  ].join("\n");

  var http = GraphiQL.createFetcher({ url: new URL("/graphql", location.origin).toString() });
  var wsUrl = new URL("/graphql/ws", location.origin);
  wsUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";

  function isSubscription(params) {
    try {
      var doc = GraphiQL.GraphQL.parse(params.query);
      return doc.definitions.some(function (d) {
        return d.kind === "OperationDefinition" && d.operation === "subscription" &&
          (!params.operationName || (d.name && d.name.value === params.operationName));
      });
    } catch (e) {
      return false;
    }
  }

  // One socket per subscription: connection_init carries the headers, then results are
  // yielded as they come (an async iterator, which GraphiQL renders live).
  function subscribe(params, headers) {
    var queue = [], waiting = null, done = false;
    var socket = new WebSocket(wsUrl.toString(), "graphql-transport-ws");
    function push(item) {
      if (waiting) { var w = waiting; waiting = null; w(item); } else { queue.push(item); }
    }
    function finish() { if (!done) { done = true; push(null); } }
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "connection_init", payload: headers || {} }));
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: params }));
      } else if (message.type === "next") {
        push(message.payload);
      } else if (message.type === "error") {
        push({ errors: message.payload });
        finish();
      } else if (message.type === "complete") {
        finish();
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = function (event) {
      if (!done) {
        push({ errors: [{ message: "the socket closed (" + event.code + " " + event.reason + ")" }] });
        finish();
      }
    };
    var iterator = {
      next: function () {
        if (queue.length) {
          var item = queue.shift();
          return Promise.resolve(item === null ? { done: true, value: undefined } : { done: false, value: item });
        }
        if (done) { return Promise.resolve({ done: true, value: undefined }); }
        return new Promise(function (resolve) {
          waiting = function (item) {
            resolve(item === null ? { done: true, value: undefined } : { done: false, value: item });
          };
        });
      },
      return: function () {
        done = true;
        socket.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    iterator[Symbol.asyncIterator] = function () { return iterator; };
    return iterator;
  }

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    if (isSubscription(params)) { return subscribe(params, headers); }
    return http(params, options);
  }

  var plugins = [];
  if (window.GraphiQLPluginExplorer) { plugins.push(GraphiQLPluginExplorer.explorerPlugin()); }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      plugins: plugins,
    })
  );
})();
