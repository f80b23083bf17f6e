#!/usr/bin/env node
// A web page on another origin calls confab from headless Chromium, so the browser's own
// CORS rules decide (not a test's reading of headers).
//
// A tiny HTTP server here serves an empty page; Chromium opens it twice:
// 1. as http://localhost:<port> (an origin the gateway allows): the page runs a query with
//    fetch (Authorization and a JSON content type, so the browser sends a preflight),
//    prints {"query": <result>}, opens a graphql-transport-ws WebSocket, subscribes to
//    messageAdded, prints {"subscribed": true}, and prints {"received": <event>} for the
//    first event (the test sends the message by HTTP once the subscription is registered);
// 2. as http://127.0.0.1:<port> (an origin the gateway does not allow): the same fetch
//    must fail in the page and the WebSocket must not open; prints
//    {"blocked": {"fetch": <error name>, "websocket": "refused"}}.
//
// Each step prints one JSON line on stdout; any failure exits 1 with a message on stderr.
//
// Env:
//   CONFAB_URL        gateway base URL, e.g. http://127.0.0.1:8787   (required)
//   CONFAB_TOKEN      a user's bearer token                           (required)
//   CONFAB_CHAT       the id of a conversation the user may read      (required)
//   CHROMIUM_PATH     browser binary                  (default /usr/bin/chromium)
//   CONFAB_TIMEOUT_MS overall time limit                         (default 60000)

import http from 'node:http';
import { chromium } from 'playwright-core';

const base = process.env.CONFAB_URL;
const token = process.env.CONFAB_TOKEN;
const chat = process.env.CONFAB_CHAT;
if (!base || !token || !chat) {
  console.error('CONFAB_URL, CONFAB_TOKEN and CONFAB_CHAT are required');
  process.exit(1);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const timeout = Number(process.env.CONFAB_TIMEOUT_MS ?? 60000);
setTimeout(() => {
  console.error(`timed out after ${timeout} ms`);
  process.exit(1);
}, timeout).unref();
const print = (value) => console.log(JSON.stringify(value));

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>another origin</title><p>a frontend</p>');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;

const QUERY = 'query Chat($c: UUID!) { conversation(id: $c) { id title } }';
const SUBSCRIPTION = `subscription($c: UUID!) {
  messageAdded(conversationId: $c) { sequence role content }
}`;

// Runs in the page: a query by fetch, as Apollo's HttpLink sends it.
async function pageQuery({ endpoint, token, query, variables }) {
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { ok: true, status: response.status, body: await response.json() };
  } catch (err) {
    return { ok: false, error: err.name };
  }
}

// Runs in the page: a graphql-transport-ws connection; resolves once subscribed, then
// keeps the first event in window.confabEvent.
function pageSubscribe({ url, token, query, variables }) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    let opened = false;
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } }));
    };
    ws.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        resolve('subscribed');
      } else if (msg.type === 'next' && !window.confabEvent) {
        window.confabEvent = msg.payload;
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    };
    ws.onclose = () => resolve(opened ? 'closed' : 'refused');
  });
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const context = await browser.newContext();
  const endpoint = `${base}/graphql`;
  const wsUrl = endpoint.replace(/^http/, 'ws');
  const variables = { c: chat };

  // 1. An allowed origin.
  const page = await context.newPage();
  await page.goto(`http://localhost:${port}/`);
  const query = await page.evaluate(pageQuery, { endpoint, token, query: QUERY, variables });
  if (!query.ok) throw new Error(`the allowed page's query failed: ${query.error}`);
  print({ query: query.body });
  const subscribed = await page.evaluate(pageSubscribe, { url: wsUrl, token, query: SUBSCRIPTION, variables });
  if (subscribed !== 'subscribed') throw new Error(`the allowed page's WebSocket: ${subscribed}`);
  print({ subscribed: true });
  await page.waitForFunction(() => window.confabEvent !== undefined, null, { timeout: 30000 });
  print({ received: await page.evaluate(() => window.confabEvent) });

  // 2. An origin that is not allowed: the browser refuses to hand over the answer.
  const other = await context.newPage();
  await other.goto(`http://127.0.0.1:${port}/`);
  const refused = await other.evaluate(pageQuery, { endpoint, token, query: QUERY, variables });
  if (refused.ok) throw new Error(`a disallowed page read an answer: ${JSON.stringify(refused)}`);
  const socket = await other.evaluate(pageSubscribe, { url: wsUrl, token, query: SUBSCRIPTION, variables });
  print({ blocked: { fetch: refused.error, websocket: socket } });
} finally {
  await browser.close();
  server.close();
}
process.exit(0);
