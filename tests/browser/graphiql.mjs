#!/usr/bin/env node
// Drives confab's offline GraphiQL page in headless Chromium, like a person would:
// opens ${CONFAB_URL}/graphql, puts the token in the headers editor, types a
// query, clicks run and prints the result pane's JSON. Then, optionally, opens the
// explorer plugin, runs a subscription and waits for its event in the result
// pane (the caller makes the event happen), and reloads the page to check that
// the headers editor kept its content.
//
// stdout: one JSON object per line, in this order:
//   {"result": <the query's result>}
//   {"explorer": true}                      (CONFAB_SUBSCRIPTION set)
//   {"subscribed": true}                    (CONFAB_SUBSCRIPTION set; the caller
//                                            now triggers the event)
//   {"event": <the result pane's JSON>}     (once it contains CONFAB_EVENT_EXPECT)
//   {"reloaded_headers": <editor text>}     (CONFAB_CHECK_RELOAD=1)
//
// Fails (exit 1, message on stderr) if the page asks any host other than the
// gateway for anything, if the page logs an error (CSP violations included),
// if the executed request does not carry the Authorization header, if the
// result has GraphQL errors, or if it does not contain CONFAB_EXPECT.
//
// Env:
//   CONFAB_URL        gateway base URL, e.g. http://127.0.0.1:8787   (required)
//   CONFAB_TOKEN      bearer token to put in the headers editor        (required)
//   CONFAB_QUERY      query to type into the editor            (default "{ __typename }")
//   CONFAB_EXPECT     substring the result JSON must contain            (optional)
//   CONFAB_TOKEN_MODE "editor" (type the header; default), "hash" (open
//                     /graphql#token=... and check the page prefilled it) or
//                     "prefilled" (the server prefilled it: development mode;
//                     CONFAB_TOKEN is then not needed)
//   CONFAB_SUBSCRIPTION a subscription to run after the query     (optional)
//   CONFAB_EVENT_EXPECT substring the subscription's event must contain
//   CONFAB_CHECK_RELOAD=1  reload and print the headers editor's content
//   CONFAB_ALLOW_ERRORS=1  do not fail on a result with "errors"
//   CONFAB_SCREENSHOT path of the screenshot     (default /tmp/graphiql.png; "" = none)
//   CHROMIUM_PATH     browser binary                  (default /usr/bin/chromium)
//   CONFAB_TIMEOUT_MS overall time limit                         (default 60000)
//
// Setup (once; no browser download): cd tests/browser && npm ci
//   and `apt-get install -y chromium` for /usr/bin/chromium.
// Usage: CONFAB_URL=http://127.0.0.1:8787 CONFAB_TOKEN=t CONFAB_QUERY='{ hello }' \
//          node tests/browser/graphiql.mjs

import { chromium } from 'playwright-core';

const SEL = {
  container: '.graphiql-container',
  queryEditor: '.graphiql-query-editor .CodeMirror',
  headersTab: '.graphiql-editor-tools button[data-name="headers"]',
  headersEditor: 'section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
  runButton: 'button.graphiql-execute-button',
  resultEditor: '.graphiql-response .result-window .CodeMirror',
  spinner: '.graphiql-response .graphiql-spinner',
};

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function fail(msg) {
  const err = new Error(msg);
  err.isCheck = true;
  throw err;
}

function env(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (dflt === undefined) fail(`environment variable ${name} is required`);
    return dflt;
  }
  return v;
}

async function main() {
  const base = new URL(env('CONFAB_URL'));
  const tokenMode = env('CONFAB_TOKEN_MODE', 'editor');
  const token = tokenMode === 'prefilled' ? '' : env('CONFAB_TOKEN');
  const subscription = process.env.CONFAB_SUBSCRIPTION || '';
  const eventExpect = process.env.CONFAB_EVENT_EXPECT || '';
  const checkReload = process.env.CONFAB_CHECK_RELOAD === '1';
  const query = env('CONFAB_QUERY', '{ __typename }');
  const expect = process.env.CONFAB_EXPECT || '';
  const allowErrors = process.env.CONFAB_ALLOW_ERRORS === '1';
  const screenshot = process.env.CONFAB_SCREENSHOT ?? '/tmp/graphiql.png';
  const executablePath = env('CHROMIUM_PATH', '/usr/bin/chromium');
  const timeout = Number(env('CONFAB_TIMEOUT_MS', '60000'));
  if (!['editor', 'hash', 'prefilled'].includes(tokenMode)) fail(`CONFAB_TOKEN_MODE must be editor, hash or prefilled, not ${tokenMode}`);

  const basePath = base.pathname.replace(/\/+$/, '');
  const endpointPath = `${basePath}/graphql`;
  const pageUrl = new URL(endpointPath, base);
  if (tokenMode === 'hash') pageUrl.hash = `token=${encodeURIComponent(token)}`;
  let expectedHeaders = { Authorization: `Bearer ${token}` };
  const expectedHeadersText = JSON.stringify(expectedHeaders);

  const foreign = []; // requests to other hosts (deduplicated below)
  const pageErrors = []; // uncaught exceptions and console errors
  const isLocal = (raw) => {
    let u;
    try {
      u = new URL(raw);
    } catch {
      return false;
    }
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
    return ['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && u.host === base.host;
  };

  const timer = setTimeout(() => {
    console.error(`FAIL: timed out after ${timeout} ms`);
    process.exit(1);
  }, timeout);
  timer.unref();

  const browser = await chromium.launch({ executablePath, headless: true, args: LAUNCH_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    context.setDefaultTimeout(Math.min(timeout, 20000));
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      foreign.push(url);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.on('request', (req) => {
      if (!isLocal(req.url()) && !foreign.includes(req.url())) foreign.push(req.url());
    });
    const wsSent = []; // frames the page sent over WebSockets to the gateway
    page.on('websocket', (ws) => {
      if (!isLocal(ws.url())) foreign.push(ws.url());
      ws.on('framesent', (frame) => wsSent.push(frame.payload));
    });
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    const isEndpoint = (raw) => {
      try {
        const u = new URL(raw);
        return u.host === base.host && u.pathname === endpointPath;
      } catch {
        return false;
      }
    };
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // An HTTP error status of the GraphQL endpoint itself (e.g. 401 for the
      // schema introspection GraphiQL sends before a token is set) is the
      // gateway's answer, shown in GraphiQL; not a broken page.
      if (msg.text().startsWith('Failed to load resource') && isEndpoint(msg.location().url)) {
        console.error(`note: ${msg.text()} (${msg.location().url})`);
        return;
      }
      pageErrors.push(`console error: ${msg.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !isEndpoint(r.url())) pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    const checkClean = (stage) => {
      if (foreign.length) fail(`${stage}: page requested other hosts than ${base.host}:\n  ${[...new Set(foreign)].join('\n  ')}`);
      if (pageErrors.length) fail(`${stage}: errors in the page:\n  ${pageErrors.join('\n  ')}`);
    };

    // 1. Load the page as a browser would (Accept: text/html).
    const resp = await page.goto(pageUrl.toString(), { waitUntil: 'load' });
    if (!resp) fail(`no response for ${pageUrl}`);
    const ctype = resp.headers()['content-type'] || '';
    if (resp.status() !== 200 || !ctype.includes('text/html')) {
      fail(`GET ${pageUrl} answered ${resp.status()} ${ctype}, expected 200 text/html`);
    }
    try {
      await page.waitForSelector(SEL.queryEditor, { state: 'visible' });
    } catch {
      checkClean('loading GraphiQL');
      fail(`GraphiQL did not render (no ${SEL.queryEditor}); body starts: ${(await page.innerText('body')).slice(0, 200)}`);
    }
    checkClean('loading GraphiQL');

    const cmValue = (sel) =>
      page.$eval(sel, (el) => {
        if (!el.CodeMirror) throw new Error('not a CodeMirror element');
        return el.CodeMirror.getValue();
      });

    // Type text into a CodeMirror 5 editor: focus, select all, insert. If the
    // editor's helpers (auto-closed brackets) changed what we typed, set it
    // through the editor API instead so the run is deterministic.
    const typeInto = async (sel, text) => {
      await page.click(sel);
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText(text);
      await page.keyboard.press('Escape'); // close any autocomplete popup
      const typed = await cmValue(sel);
      if (typed !== text) {
        console.error(`note: editor turned typed text into ${JSON.stringify(typed)}; setting it via the CodeMirror API`);
        await page.$eval(sel, (el, t) => el.CodeMirror.setValue(t), text);
      }
      const got = await cmValue(sel);
      if (got !== text) fail(`editor ${sel} holds ${JSON.stringify(got)}, wanted ${JSON.stringify(text)}`);
    };

    // 2. Authorization header in the headers editor.
    if (!(await page.$(SEL.headersEditor))) await page.click(SEL.headersTab);
    await page.waitForSelector(SEL.headersEditor, { state: 'visible' });
    if (tokenMode === 'hash') {
      const prefilled = await cmValue(SEL.headersEditor);
      let parsed;
      try {
        parsed = JSON.parse(prefilled);
      } catch {
        fail(`headers editor not prefilled from #token; it holds ${JSON.stringify(prefilled)}`);
      }
      if (parsed.Authorization !== expectedHeaders.Authorization) {
        fail(`headers editor prefilled with ${JSON.stringify(prefilled)}, expected ${expectedHeadersText}`);
      }
      if (page.url().includes(encodeURIComponent(token))) fail(`token still in the address bar: ${page.url()}`);
    } else if (tokenMode === 'prefilled') {
      const prefilled = await cmValue(SEL.headersEditor);
      let parsed;
      try {
        parsed = JSON.parse(prefilled);
      } catch {
        fail(`headers editor not prefilled by the server; it holds ${JSON.stringify(prefilled)}`);
      }
      if (!/^Bearer \S+$/.test(parsed.Authorization || '')) {
        fail(`headers editor prefilled with ${JSON.stringify(prefilled)}, expected an Authorization bearer token`);
      }
      expectedHeaders = { Authorization: parsed.Authorization };
    } else {
      await typeInto(SEL.headersEditor, expectedHeadersText);
    }

    // 3. The query.
    await typeInto(SEL.queryEditor, query);
    // GraphiQL parses the query 100 ms (debounced) after an edit; the parsed
    // document decides operation name and HTTP-vs-WebSocket. Let it settle.
    await page.waitForTimeout(300);

    // 4. Run, and check what went over the wire.
    const sent = page.waitForRequest((req) => {
      if (req.method() !== 'POST' || new URL(req.url()).pathname !== endpointPath) return false;
      try {
        return JSON.parse(req.postData() || '{}').query === query;
      } catch {
        return false;
      }
    });
    await page.click(SEL.runButton);
    const req = await sent;
    const auth = (await req.allHeaders()).authorization;
    if (auth !== expectedHeaders.Authorization) {
      fail(`the query was sent with Authorization ${JSON.stringify(auth ?? null)}, expected ${JSON.stringify(expectedHeaders.Authorization)}`);
    }

    // 5. Wait for the result pane.
    await page.waitForFunction(
      ({ result, spinner }) => {
        const el = document.querySelector(result);
        return !document.querySelector(spinner) && el && el.CodeMirror && el.CodeMirror.getValue().trim() !== '';
      },
      { result: SEL.resultEditor, spinner: SEL.spinner },
    );
    const text = await cmValue(SEL.resultEditor);
    if (screenshot && !subscription) await page.screenshot({ path: screenshot });
    checkClean('running the query');

    let json;
    try {
      json = JSON.parse(text);
    } catch {
      fail(`result pane is not JSON:\n${text}`);
    }
    console.log(JSON.stringify({ result: json }));
    if (json.errors && !allowErrors) fail(`the result has GraphQL errors: ${JSON.stringify(json.errors)}`);
    if (expect && !text.includes(expect)) fail(`the result does not contain ${JSON.stringify(expect)}`);

    if (subscription) {
      // 6. The explorer plugin, bundled offline: its sidebar button opens it.
      await page.click('button[aria-label="Show GraphiQL Explorer"]');
      await page.waitForSelector('.graphiql-explorer-root', { state: 'visible' });
      checkClean('opening the explorer');
      console.log(JSON.stringify({ explorer: true }));

      // 7. A subscription over graphql-ws, with the editor's headers as payload.
      await typeInto(SEL.queryEditor, subscription);
      await page.waitForTimeout(300);
      await page.click(SEL.runButton);
      const sentOfType = (type) => wsSent.map((p) => {
        try {
          return JSON.parse(p);
        } catch {
          return {};
        }
      }).find((m) => m.type === type);
      const deadline = Date.now() + 20000;
      while (!(sentOfType('connection_init') && sentOfType('subscribe'))) {
        if (Date.now() > deadline) fail(`no connection_init and subscribe sent over a WebSocket; sent: ${JSON.stringify(wsSent)}`);
        await page.waitForTimeout(50);
      }
      const payload = sentOfType('connection_init').payload || {};
      if (payload.Authorization !== expectedHeaders.Authorization) {
        fail(`connection_init carried ${JSON.stringify(payload)}, expected the editor's Authorization`);
      }
      console.log(JSON.stringify({ subscribed: true }));
      await page.waitForFunction(
        ({ result, want }) => {
          const el = document.querySelector(result);
          return el && el.CodeMirror && el.CodeMirror.getValue().includes(want);
        },
        { result: SEL.resultEditor, want: eventExpect || '"data"' },
        { timeout: 30000 },
      );
      const eventText = await cmValue(SEL.resultEditor);
      if (screenshot) await page.screenshot({ path: screenshot });
      checkClean('running the subscription');
      let event;
      try {
        event = JSON.parse(eventText);
      } catch {
        fail(`the result pane is not JSON after the event:\n${eventText}`);
      }
      console.log(JSON.stringify({ event }));
    }

    if (checkReload) {
      // 8. Headers survive a reload (GraphiQL's storage), not the server's defaults.
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector(SEL.queryEditor, { state: 'visible' });
      if (!(await page.$(SEL.headersEditor))) await page.click(SEL.headersTab);
      await page.waitForSelector(SEL.headersEditor, { state: 'visible' });
      checkClean('reloading');
      console.log(JSON.stringify({ reloaded_headers: await cmValue(SEL.headersEditor) }));
    }
    if (screenshot) console.error(`screenshot: ${screenshot}`);
    console.error('OK: GraphiQL rendered offline, sent the Authorization header and showed the result');
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAIL: ${err.isCheck ? err.message : err.stack || err}`);
    process.exit(1);
  },
);
