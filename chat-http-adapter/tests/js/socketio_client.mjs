// An unchanged socket.io-client front end against the adapter's /chat namespace, driven by
// tests/socketio.rs. Usage: node socketio_client.mjs <base-url> <token> <session-id> <mode>
// with mode polling | upgrade | websocket (or shutdown | expiry: wait to be disconnected). Prints one JSON line of results; exits non-zero
// with the reason on any failure.
import { io } from "socket.io-client";

const [base, token, sessionId, mode] = process.argv.slice(2);
const TIMEOUT_MS = 10_000;

function fail(message) {
  console.error(`FAIL (${mode}): ${message}`);
  process.exit(1);
}

const watchdog = setTimeout(() => fail("timed out"), 45_000);

function options() {
  const opts = { auth: { token }, reconnection: false, timeout: TIMEOUT_MS };
  if (mode === "polling") {
    opts.transports = ["polling"];
  } else if (mode === "websocket") {
    opts.transports = ["websocket"];
  } else if (mode === "upgrade" || mode === "shutdown" || mode === "expiry") {
    opts.transports = ["polling", "websocket"];
    opts.upgrade = true;
  } else {
    fail(`unknown mode ${mode}`);
  }
  return opts;
}

function connect(opts = options()) {
  return new Promise((resolve, reject) => {
    const socket = io(`${base}/chat`, opts);
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

function waitFor(socket, event, predicate) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} in time`)), TIMEOUT_MS);
    const handler = (payload) => {
      if (predicate(payload)) {
        clearTimeout(timer);
        socket.off(event, handler);
        resolve(payload);
      }
    };
    socket.on(event, handler);
  });
}

function upgraded(socket) {
  if (socket.io.engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no upgrade to websocket")), TIMEOUT_MS);
    socket.io.engine.once("upgrade", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function postOverRest(content) {
  const response = await fetch(`${base}/api/v1/sessions/${sessionId}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ content }),
  });
  if (response.status !== 201) fail(`REST post answered ${response.status}`);
  return (await response.json()).seq;
}

// Modes "shutdown" and "expiry": join, say READY, then report how the server let go of the
// socket, with the error events it sent before.
async function awaitDisconnect() {
  const socket = await connect({ auth: { token }, reconnection: false, transports: ["websocket"] });
  const errors = [];
  socket.on("error", (payload) => errors.push(payload));
  const join = await socket.timeout(TIMEOUT_MS).emitWithAck("join-session", { session_id: sessionId, after_seq: 0 });
  if (!join.ok) fail("join refused");
  const gone = new Promise((resolve) => socket.once("disconnect", resolve));
  console.log("READY");
  const reason = await gone;
  clearTimeout(watchdog);
  console.log(JSON.stringify({ mode, disconnect: reason, errors }));
}

async function main() {
  if (mode === "shutdown" || mode === "expiry") return awaitDisconnect();
  const result = { mode };

  // A bad token is refused with connect_error.
  try {
    const intruder = await connect({ ...options(), auth: { token: "not-a-token" } });
    intruder.close();
    fail("a bad token was accepted");
  } catch (err) {
    if (!/credentials|token/i.test(err.message)) fail(`unexpected connect_error: ${err.message}`);
    result.refused = err.message;
  }

  const socket = await connect();
  if (mode === "upgrade") await upgraded(socket);
  result.transport = socket.io.engine.transport.name;

  const created = [];
  socket.on("message-created", (payload) => created.push(payload));
  const joinedEvent = waitFor(socket, "joined", (p) => p.session_id === sessionId);
  const join = await socket.timeout(TIMEOUT_MS).emitWithAck("join-session", { session_id: sessionId, after_seq: 0 });
  if (!join.ok) fail(`join refused: ${JSON.stringify(join)}`);
  const joined = await joinedEvent;
  if (joined.last_seq !== join.last_seq) fail("joined and the ack disagree");
  const before = created.length;
  if (before !== join.last_seq) fail(`replayed ${before} of ${join.last_seq} messages`);

  const clientMsgId = `${mode}-1`;
  const echo = waitFor(socket, "message-created", (p) => p.event.message.client_msg_id === clientMsgId);
  const ack = await socket.timeout(TIMEOUT_MS).emitWithAck("send-message", {
    session_id: sessionId,
    content: `hello over ${mode}`,
    client_msg_id: clientMsgId,
  });
  if (!ack.ok) fail(`send refused: ${JSON.stringify(ack)}`);
  const event = await echo;
  if (event.seq !== ack.message.seq || event.event.kind !== "message_created") fail("event and ack disagree");
  const retry = await socket.timeout(TIMEOUT_MS).emitWithAck("send-message", {
    session_id: sessionId,
    content: `hello over ${mode}`,
    client_msg_id: clientMsgId,
  });
  if (!retry.ok || retry.message.id !== ack.message.id) fail("a retried client_msg_id posted twice");

  const typing = await socket.timeout(TIMEOUT_MS).emitWithAck("typing-start", { session_id: sessionId });
  if (!typing.ok) fail("typing-start refused");
  await socket.timeout(TIMEOUT_MS).emitWithAck("typing-stop", { session_id: sessionId });

  const bad = await socket.timeout(TIMEOUT_MS).emitWithAck("send-message", { session_id: "nope", content: "x" });
  if (bad.ok || bad.error.code !== "invalid_input") fail(`bad input answered ${JSON.stringify(bad)}`);
  const missing = await socket
    .timeout(TIMEOUT_MS)
    .emitWithAck("send-message", { session_id: "018f0000-0000-7000-8000-000000000000", content: "x" });
  if (missing.ok || missing.error.code !== "not_found") fail(`missing session answered ${JSON.stringify(missing)}`);

  // Disconnect, miss two messages, come back with the last seq seen: exactly those two.
  const lastSeen = event.seq;
  socket.close();
  const missed = [await postOverRest(`missed 1 (${mode})`), await postOverRest(`missed 2 (${mode})`)];
  const again = await connect();
  const replayed = [];
  again.on("message-created", (p) => replayed.push(p.seq));
  const rejoin = await again.timeout(TIMEOUT_MS).emitWithAck("join-session", { session_id: sessionId, after_seq: lastSeen });
  if (!rejoin.ok) fail("rejoin refused");
  if (JSON.stringify(replayed) !== JSON.stringify(missed)) fail(`resumed with ${JSON.stringify(replayed)}, expected ${JSON.stringify(missed)}`);
  again.close();

  result.sent_seq = ack.message.seq;
  result.resumed = replayed;
  clearTimeout(watchdog);
  console.log(JSON.stringify(result));
}

main().catch((err) => fail(err.stack || String(err)));
