#!/usr/bin/env node
// A real frontend's subscription client against confab: the `graphql-ws` npm package
// (graphql-transport-ws protocol) over the `ws` WebSocket implementation.
//
// 1. A client with a bad token: the server must close the connection with 4403.
// 2. A client with a good token subscribes to messageAdded, prints {"subscribed":true},
//    and prints {"received": <data>} for the first event (the test sends the message by
//    HTTP once the gateway has registered the subscription), then disconnects.
//
// Each step prints one JSON line on stdout; any failure exits 1 with a message on stderr.
//
// Env:
//   CONFAB_URL        gateway base URL, e.g. http://127.0.0.1:8787   (required)
//   CONFAB_TOKEN      a user's bearer token                           (required)
//   CONFAB_CHAT       the id of a conversation the user may read      (required)
//   CONFAB_TIMEOUT_MS overall time limit                         (default 30000)
//
// Setup (once): cd tests/browser && npm ci

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.env.CONFAB_URL;
const token = process.env.CONFAB_TOKEN;
const chat = process.env.CONFAB_CHAT;
if (!base || !token || !chat) {
  console.error('CONFAB_URL, CONFAB_TOKEN and CONFAB_CHAT are required');
  process.exit(1);
}
const url = base.replace(/^http/, 'ws') + '/graphql';
const timeout = Number(process.env.CONFAB_TIMEOUT_MS ?? 30000);
setTimeout(() => {
  console.error(`timed out after ${timeout} ms`);
  process.exit(1);
}, timeout).unref();

const print = (value) => console.log(JSON.stringify(value));

const QUERY = `subscription($c: UUID!) {
  messageAdded(conversationId: $c) { id sequence role content conversation { id } }
}`;

// 1. A bad token is refused with close code 4403.
const refusedCode = await new Promise((resolve, reject) => {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: 'Bearer not-a-valid-token' },
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => resolve(event.code) },
  });
  client.subscribe(
    { query: QUERY, variables: { c: chat } },
    {
      next: (value) => reject(new Error(`a refused client got data: ${JSON.stringify(value)}`)),
      error: () => {},
      complete: () => {},
    },
  );
});
print({ refused: refusedCode });

// 2. A good token: subscribe and wait for the first message.
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
const received = await new Promise((resolve, reject) => {
  const dispose = client.subscribe(
    { query: QUERY, variables: { c: chat } },
    {
      next: (value) => {
        dispose();
        resolve(value);
      },
      error: (err) => reject(new Error(`subscription failed: ${JSON.stringify(err?.code ?? err)}`)),
      complete: () => {},
    },
  );
  client.on('connected', () => print({ subscribed: true }));
});
print({ received });
await client.dispose();
process.exit(0);
