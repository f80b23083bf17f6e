// Boots GraphiQL for confab. Written for confab (not vendored); MIT like the rest.
//
// Configuration comes from the non-executable JSON block
// <script type="application/json" id="graphiql-config"> that the server renders:
//   { "endpoint": "/graphql",
//     "subscriptionEndpoint": "/graphql/ws" | "wss://host/path" | null,
//     "defaultHeaders": { "Authorization": "Bearer ..." } | null,
//     "introspection": true | false }
// With "introspection": false (the server runs with --introspection off) GraphiQL
// gets `schema: null` and does not send its introspection query; the page shows a
// banner saying docs and autocompletion are unavailable.
//
// "defaultHeaders" (development mode: the demo user's token) fill the headers
// editor of a first visit and of new tabs. Headers persist in GraphiQL's storage
// (localStorage of this origin, `shouldPersistHeaders`), so after a reload the
// editor holds what it held, not the defaults again.
//
// A token in the page URL's fragment (`/graphql#token=XYZ`) sets the headers
// editor to `{"Authorization": "Bearer XYZ"}`, replacing what was kept. The
// fragment is never sent to the server, and it is removed from the address bar
// right away so the token does not linger in history.
//
// Subscriptions go over graphql-ws (bundled in graphiql.min.js) to
// "subscriptionEndpoint"; the headers editor's content is the connection_init
// payload. The explorer plugin (graphiql-plugin-explorer.umd.js) is added when
// loaded.
(function () {
  'use strict';

  function readConfig() {
    var el = document.getElementById('graphiql-config');
    return el ? JSON.parse(el.textContent || '{}') : {};
  }

  function absoluteWsUrl(url) {
    if (!url) return undefined;
    if (/^wss?:\/\//i.test(url)) return url;
    var u = new URL(url, window.location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  function tokenFromFragment() {
    var hash = window.location.hash;
    if (!hash || hash.length < 2) return null;
    var params = new URLSearchParams(hash.slice(1));
    var token = params.get('token');
    if (!token) return null;
    params.delete('token');
    var rest = params.toString();
    try {
      window.history.replaceState(
        null,
        '',
        window.location.pathname + window.location.search + (rest ? '#' + rest : '')
      );
    } catch (_) {
      /* ignore: cosmetic only */
    }
    return token;
  }

  var config = readConfig();
  var headers = Object.assign({}, config.defaultHeaders || {});
  var token = tokenFromFragment();
  if (token) {
    headers.Authorization = /^bearer\s/i.test(token) ? token : 'Bearer ' + token;
  }
  var headersText = Object.keys(headers).length ? JSON.stringify(headers, null, 2) : undefined;
  var defaultHeadersText = config.defaultHeaders
    ? JSON.stringify(config.defaultHeaders, null, 2)
    : undefined;

  var baseFetcher = GraphiQL.createFetcher({
    url: config.endpoint || window.location.pathname,
    subscriptionUrl: absoluteWsUrl(config.subscriptionEndpoint),
  });
  // GraphiQL sends its schema introspection as soon as it mounts, before the
  // headers editor exists, i.e. without headers: a gateway that wants a token
  // answers 401 and the docs/autocomplete stay empty. Give that request the
  // prefilled headers when the editor supplied none. Everything else uses
  // exactly what the headers editor holds.
  var fetcher = function (params, opts) {
    var given = opts && opts.headers;
    if (headersText && params && params.operationName === 'IntrospectionQuery' &&
        (!given || Object.keys(given).length === 0)) {
      opts = Object.assign({}, opts, { headers: Object.assign({}, headers) });
    }
    return baseFetcher(params, opts);
  };

  var props = {
    fetcher: fetcher,
    // Open the bottom pane on the headers editor so the token is easy to set.
    defaultEditorToolsVisibility: 'headers',
    isHeadersEditorEnabled: true,
    // Keep headers across reloads (localStorage of this origin).
    shouldPersistHeaders: true,
  };
  if (window.GraphiQLPluginExplorer) {
    props.plugins = [window.GraphiQLPluginExplorer.explorerPlugin()];
  }
  if (config.introspection === false) {
    props.schema = null;
  }
  // First visit and new tabs: the server's default headers. A token in the
  // fragment replaces the kept headers; otherwise the kept ones stay.
  if (defaultHeadersText) {
    props.defaultHeaders = defaultHeadersText;
  }
  if (token) {
    props.headers = headersText;
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, props));
})();
