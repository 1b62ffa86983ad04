// The support-portal demo page: a customer view (#customer) and an agent view (#agent) over
// API v1 (REST for sessions and support actions, one WebSocket for everything live).
// Plain JavaScript, no build step, no dependency; the full chat box is a separate component.
'use strict';

const API = '/api/v1';
const WS_URL = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + API + '/ws';
/** How long a typing indicator stays without a new typing event. */
const TYPING_SHOWN_MS = 6000;
/** Idle time after which this page says it stopped typing. */
const TYPING_IDLE_MS = 2500;
/** How often the agent view refreshes its chat lists. */
const AGENT_POLL_MS = 3000;
/** Longest wait between two reconnection attempts. */
const MAX_RECONNECT_MS = 10000;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// REST

class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiFailure(res.status, err.code, err.message || res.status + ' ' + res.statusText);
  }
  return data;
}

async function devLogin(userId, role) {
  const data = await api('POST', '/dev/login', null, { user_id: userId, role });
  return data.token;
}

/** A page of sessions, whatever the envelope (`[...]`, `{sessions}` or `{items}`). */
function sessionsOf(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.sessions)) return data.sessions;
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
}

let noticeTimer = null;
function notice(message) {
  const el = $('notice');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

function setConnection(state, text) {
  const el = $('connection');
  el.dataset.state = state;
  el.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// WebSocket: one connection, joined sessions resume from the last seq seen after a reconnect,
// and messages sent while offline wait in an outbox (their client_msg_id makes a resend safe).

class ChatSocket {
  constructor(token, onFrame) {
    this.token = token;
    this.onFrame = onFrame;
    this.joined = new Map(); // session id -> last seq seen
    this.outbox = new Map(); // client_msg_id -> send frame, until acknowledged
    this.ws = null;
    this.retries = 0;
    this.stopped = false;
    this.connect();
  }

  connect() {
    setConnection('connecting', 'connecting…');
    const ws = new WebSocket(WS_URL + '?token=' + encodeURIComponent(this.token));
    this.ws = ws;
    ws.onopen = () => {
      this.retries = 0;
      setConnection('open', 'connected');
      for (const [sessionId, seq] of this.joined) {
        this.raw({ type: 'join', session_id: sessionId, after_seq: seq });
      }
    };
    ws.onmessage = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (_) { return; }
      if (frame.type === 'joined') {
        // Replay is complete: what waited in the outbox for this session can go now.
        for (const pending of this.outbox.values()) {
          if (pending.session_id === frame.session_id) this.raw(pending);
        }
      } else if (frame.type === 'ack') {
        this.outbox.delete(frame.client_msg_id);
      } else if (frame.type === 'event' && frame.seq != null) {
        const last = this.joined.get(frame.session_id);
        if (last !== undefined && frame.seq > last) this.joined.set(frame.session_id, frame.seq);
      } else if (frame.type === 'error' && frame.ref && this.outbox.has(frame.ref)) {
        // The server refused this message; a retry is the user's decision.
        this.outbox.delete(frame.ref);
      }
      this.onFrame(frame);
    };
    ws.onclose = (e) => {
      if (this.stopped) return;
      const wait = Math.min(MAX_RECONNECT_MS, 500 * 2 ** this.retries) * (0.5 + Math.random() / 2);
      this.retries += 1;
      setConnection('closed', 'disconnected (' + e.code + '), retrying…');
      setTimeout(() => this.connect(), wait);
    };
  }

  get open() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  raw(frame) {
    if (this.open) this.ws.send(JSON.stringify(frame));
  }

  join(sessionId, afterSeq) {
    this.joined.set(sessionId, afterSeq || 0);
    this.raw({ type: 'join', session_id: sessionId, after_seq: afterSeq || 0 });
  }

  leave(sessionId) {
    if (!this.joined.delete(sessionId)) return;
    this.raw({ type: 'leave', session_id: sessionId });
    for (const [id, pending] of this.outbox) if (pending.session_id === sessionId) this.outbox.delete(id);
  }

  /** Sends a message; returns its client_msg_id. */
  send(sessionId, content, clientMsgId) {
    const frame = { type: 'send', session_id: sessionId, content, client_msg_id: clientMsgId || newId() };
    this.outbox.set(frame.client_msg_id, frame);
    this.raw(frame);
    return frame.client_msg_id;
  }

  typing(sessionId, state) {
    this.raw({ type: 'typing', session_id: sessionId, state });
  }

  close() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
    setConnection('idle', 'not connected');
  }
}

// ---------------------------------------------------------------------------------------------
// The message list of one session: ordered by seq, AI answers streamed in place, the caller's
// own messages shown at once as "sending" until the server acknowledges them.

const SENDER_NAMES = { customer: 'Customer', agent: 'Agent', ai: 'Assistant', system: '' };

class ChatView {
  constructor(listEl, typingEl, isMine) {
    this.list = listEl;
    this.typingEl = typingEl;
    this.isMine = isMine;
    this.typers = new Map(); // user id -> timer
    this.labels = new Map(); // user id -> how to name them
    this.clear();
  }

  clear() {
    this.list.textContent = '';
    this.byId = new Map(); // message id -> li
    this.byClientId = new Map(); // client_msg_id -> li (pending)
    for (const timer of (this.typers || new Map()).values()) clearTimeout(timer);
    this.typers = new Map();
    this.renderTyping();
  }

  /** Places `li` by seq (items without seq stay at the end). */
  place(li, seq) {
    li.dataset.seq = seq == null ? '' : String(seq);
    if (seq != null) {
      for (const other of this.list.children) {
        const s = other.dataset.seq;
        if (other !== li && (s === '' || Number(s) > seq)) {
          this.list.insertBefore(li, other);
          return this.scroll();
        }
      }
    }
    this.list.appendChild(li);
    this.scroll();
  }

  scroll() { this.list.scrollTop = this.list.scrollHeight; }

  bubble(cls, who) {
    const li = document.createElement('li');
    li.className = 'msg ' + cls;
    if (who) {
      const w = document.createElement('span');
      w.className = 'who';
      w.textContent = who;
      li.appendChild(w);
    }
    const body = document.createElement('span');
    body.className = 'body';
    li.appendChild(body);
    return li;
  }

  pending(clientMsgId, content, sender) {
    const li = this.bubble(sender + ' mine sending', 'You');
    li.querySelector('.body').textContent = content;
    li.dataset.client = clientMsgId;
    this.byClientId.set(clientMsgId, li);
    this.place(li, null);
  }

  failed(clientMsgId, message, retry) {
    const li = this.byClientId.get(clientMsgId);
    if (!li) return false;
    li.classList.remove('sending');
    li.classList.add('failed');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = 'not sent: ' + message;
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'retry';
    again.textContent = 'retry';
    again.onclick = () => { li.remove(); this.byClientId.delete(clientMsgId); retry(); };
    meta.appendChild(again);
    li.appendChild(meta);
    return true;
  }

  upsert(message) {
    if (!message || !message.id) return;
    const mine = this.isMine(message);
    const who = message.sender === 'system' ? '' :
      (mine ? 'You' : (SENDER_NAMES[message.sender] || message.sender) +
        (message.sender === 'agent' && message.sender_id ? ' ' + message.sender_id : ''));
    const li = this.bubble([message.sender, mine ? 'mine' : '', message.visibility === 'internal' ? 'internal' : ''].join(' '), who);
    li.dataset.id = message.id;
    li.querySelector('.body').textContent = message.content;
    const meta = message.metadata || {};
    if (message.visibility === 'internal') this.addMeta(li, 'internal note (staff only)');
    if (message.sender === 'ai') {
      if (Array.isArray(meta.citations) && meta.citations.length) li.appendChild(citationList(meta.citations));
      const labels = [];
      if (meta.offline) labels.push('offline answer');
      else if (meta.provider) labels.push(meta.provider + (meta.model ? ' / ' + meta.model : ''));
      if (typeof meta.confidence === 'number') labels.push('confidence ' + Math.round(meta.confidence * 100) + '%');
      if (meta.incomplete) labels.push('incomplete');
      if (labels.length) this.addMeta(li, labels.join(' · '));
    }
    const old = this.byId.get(message.id) ||
      (message.client_msg_id ? this.byClientId.get(message.client_msg_id) : null);
    if (message.client_msg_id) this.byClientId.delete(message.client_msg_id);
    if (old) old.remove();
    this.byId.set(message.id, li);
    this.place(li, message.seq);
    if (message.sender_id) this.stopTyping(message.sender_id);
  }

  addMeta(li, text) {
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = text;
    li.appendChild(meta);
  }

  delta(messageId, text) {
    let li = this.byId.get(messageId);
    if (!li) {
      li = this.bubble('ai streaming', 'Assistant');
      li.dataset.id = messageId;
      this.byId.set(messageId, li);
      this.place(li, null);
    }
    if (!li.classList.contains('streaming')) return; // already completed
    li.querySelector('.body').textContent += text;
    this.scroll();
  }

  typing(event, myId) {
    if (event.user_id === myId) return;
    if (event.state === 'start') {
      clearTimeout(this.typers.get(event.user_id));
      const label = event.sender === 'agent' ? 'An agent' : (event.sender === 'customer' ? 'The customer' : event.user_id);
      this.typers.set(event.user_id, setTimeout(() => this.stopTyping(event.user_id), TYPING_SHOWN_MS));
      this.labels.set(event.user_id, label);
    } else {
      this.stopTyping(event.user_id);
    }
    this.renderTyping();
  }

  stopTyping(userId) {
    if (!this.typers.has(userId)) return;
    clearTimeout(this.typers.get(userId));
    this.typers.delete(userId);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typers.keys()].map((id) => this.labels.get(id) || id);
    this.typingEl.textContent = names.length ? names.join(', ') + ' is typing…' : '';
  }
}

function citationList(citations) {
  const ol = document.createElement('ol');
  ol.className = 'citations';
  for (const c of [...citations].sort((a, b) => a.index - b.index)) {
    const li = document.createElement('li');
    li.value = c.index;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = String(c.source_kind || 'source').replace(/_/g, ' ');
    li.appendChild(badge);
    let title;
    if (c.url && /^https?:/i.test(c.url)) {
      title = document.createElement('a');
      title.href = c.url;
      title.target = '_blank';
      title.rel = 'noopener noreferrer';
    } else {
      title = document.createElement('span');
    }
    title.className = 'citation-title';
    title.textContent = c.title || c.source_id;
    if (c.snippet) title.title = c.snippet;
    li.appendChild(title);
    ol.appendChild(li);
  }
  return ol;
}

/** Applies one server frame to a view. */
function applyFrame(view, frame, sessionId, myId, onSession) {
  if (frame.session_id && frame.session_id !== sessionId) return;
  if (frame.type !== 'event') return;
  const ev = frame.event || {};
  switch (ev.kind) {
    case 'message_created':
    case 'ai_completed':
      view.upsert(ev.message);
      break;
    case 'ai_delta':
      view.delta(ev.message_id, ev.delta);
      break;
    case 'typing':
      view.typing(ev, myId);
      break;
    case 'session_updated':
      view.upsert(ev.message);
      onSession({ status: ev.status, kind: ev.session_kind });
      break;
    case 'assignment_changed':
      view.upsert(ev.message);
      onSession({ assignment: ev.assignment });
      break;
    case 'document_status':
    case 'url_status':
      if (ev.message) view.upsert(ev.message);
      break;
    default:
      break; // presence and kinds this page does not show
  }
}

/** Sends typing start/stop for a textarea, throttled. */
function typingReporter(input, socketOf, sessionOf) {
  let typing = false;
  let idle = null;
  const stop = () => {
    clearTimeout(idle);
    if (typing && socketOf() && sessionOf()) socketOf().typing(sessionOf(), 'stop');
    typing = false;
  };
  input.addEventListener('input', () => {
    if (!socketOf() || !sessionOf()) return;
    if (!typing) { socketOf().typing(sessionOf(), 'start'); typing = true; }
    clearTimeout(idle);
    idle = setTimeout(stop, TYPING_IDLE_MS);
  });
  return stop;
}

/** Enter sends, Shift+Enter makes a new line. */
function submitOnEnter(input, form) {
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
}

const STATUS_TEXT = {
  open: 'AI assistant',
  waiting_for_agent: 'Waiting for a person…',
  assigned: 'With a support agent',
  resolved: 'Resolved: write again to reopen',
  closed: 'Closed',
};

// ---------------------------------------------------------------------------------------------
// Customer view

const customer = {
  token: null,
  userId: null,
  sessionId: null,
  socket: null,
  view: null,
  stopTyping: null,

  init() {
    this.view = new ChatView($('customer-messages'), $('customer-typing'), (m) => m.sender === 'customer');
    $('customer-name').value = 'customer-' + Math.random().toString(36).slice(2, 6);
    $('customer-login').addEventListener('submit', (e) => { e.preventDefault(); this.login().catch(fail); });
    $('customer-compose').addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    submitOnEnter($('customer-input'), $('customer-compose'));
    $('ask-human').addEventListener('click', () => this.escalate().catch(fail));
    $('new-chat').addEventListener('click', () => this.startSession().catch(fail));
    this.stopTyping = typingReporter($('customer-input'), () => this.socket, () => this.sessionId);
    const saved = JSON.parse(sessionStorage.getItem('portal.customer') || 'null');
    if (saved && saved.token && saved.sessionId) this.resume(saved).catch(() => sessionStorage.removeItem('portal.customer'));
  },

  save() {
    sessionStorage.setItem('portal.customer', JSON.stringify({ token: this.token, userId: this.userId, sessionId: this.sessionId }));
  },

  async login() {
    this.userId = $('customer-name').value.trim();
    this.token = await devLogin(this.userId, 'customer');
    await this.startSession();
  },

  async resume(saved) {
    Object.assign(this, { token: saved.token, userId: saved.userId });
    const session = await api('GET', '/sessions/' + saved.sessionId, this.token);
    this.open(session.session || session);
  },

  async startSession() {
    const session = await api('POST', '/sessions', this.token, { kind: 'support', title: 'Support chat' });
    this.open(session.session || session);
  },

  open(session) {
    if (this.socket && this.sessionId) this.socket.leave(this.sessionId);
    this.sessionId = session.id;
    this.save();
    this.view.clear();
    this.showStatus(session.status);
    $('customer-login').hidden = true;
    $('customer-chat').hidden = false;
    if (!this.socket) this.socket = new ChatSocket(this.token, (f) => this.onFrame(f));
    this.socket.join(session.id, 0);
    $('customer-input').focus();
  },

  onFrame(frame) {
    if (frame.type === 'error') {
      if (!this.view.failed(frame.ref, frame.message, () => this.sendText(this.lastText.get(frame.ref) || ''))) notice(frame.message);
      return;
    }
    if (frame.type === 'ack') { this.view.upsert(frame.message); return; }
    applyFrame(this.view, frame, this.sessionId, this.userId, (change) => {
      if (change.status) this.showStatus(change.status);
      // An assignment event does not say what the session became (resolved, handed back to
      // the assistant, transferred): ask.
      if (change.assignment) this.refreshStatus().catch(() => {});
    });
  },

  async refreshStatus() {
    const session = await api('GET', '/sessions/' + this.sessionId, this.token);
    this.showStatus((session.session || session).status);
  },

  showStatus(status) {
    $('customer-status').textContent = STATUS_TEXT[status] || status;
    $('ask-human').disabled = status === 'waiting_for_agent' || status === 'closed';
  },

  lastText: new Map(),

  send() {
    const text = $('customer-input').value.trim();
    if (!text || !this.sessionId) return;
    $('customer-input').value = '';
    this.stopTyping();
    this.sendText(text);
  },

  sendText(text) {
    const id = newId();
    this.lastText.set(id, text);
    this.view.pending(id, text, 'customer');
    this.socket.send(this.sessionId, text, id);
  },

  async escalate() {
    const session = await api('POST', '/sessions/' + this.sessionId + '/escalate', this.token, { reason: 'The customer asked for a person' });
    this.showStatus((session.session || session).status);
  },
};

// ---------------------------------------------------------------------------------------------
// Agent view

const agent = {
  token: null,
  userId: null,
  socket: null,
  view: null,
  current: null, // the session shown
  poll: null,
  stopTyping: null,

  init() {
    this.view = new ChatView($('agent-messages'), $('agent-typing'), (m) => m.sender === 'agent' && m.sender_id === this.userId);
    $('agent-login').addEventListener('submit', (e) => { e.preventDefault(); this.login().catch(fail); });
    $('agent-availability').addEventListener('change', () => this.setAvailability().catch(fail));
    $('agent-compose').addEventListener('submit', (e) => { e.preventDefault(); this.send().catch(fail); });
    submitOnEnter($('agent-input'), $('agent-compose'));
    $('agent-resolve').addEventListener('click', () => this.resolve().catch(fail));
    $('agent-take').addEventListener('click', () => this.take().catch(fail));
    this.stopTyping = typingReporter($('agent-input'), () => this.socket, () => this.current && this.current.id);
  },

  async login() {
    this.userId = $('agent-name').value.trim();
    this.token = await devLogin(this.userId, $('agent-role').value);
    await this.setAvailability();
    $('agent-me').textContent = this.userId + ' (' + $('agent-role').value + ')';
    $('agent-login').hidden = true;
    $('agent-console').hidden = false;
    this.socket = new ChatSocket(this.token, (f) => this.onFrame(f));
    await this.refresh();
    this.poll = setInterval(() => this.refresh().catch(() => {}), AGENT_POLL_MS);
  },

  async setAvailability() {
    await api('PUT', '/agents/me/availability', this.token, { availability: $('agent-availability').value, max_concurrent: 5 });
    if (this.socket) await this.refresh();
  },

  async refresh() {
    const me = encodeURIComponent(this.userId);
    const [mine, queue] = await Promise.all([
      api('GET', '/sessions?status=assigned&assigned_to=' + me + '&limit=50', this.token),
      api('GET', '/sessions?status=waiting_for_agent&limit=50', this.token),
    ]);
    this.renderList($('agent-mine'), sessionsOf(mine), 'No chat assigned to you.');
    this.renderList($('agent-queue'), sessionsOf(queue), 'Nobody is waiting.');
  },

  renderList(ul, sessions, empty) {
    ul.textContent = '';
    if (!sessions.length) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = empty;
      ul.appendChild(li);
      return;
    }
    for (const s of sessions) {
      const li = document.createElement('li');
      li.dataset.id = s.id;
      if (this.current && this.current.id === s.id) li.classList.add('active');
      li.textContent = (s.title || 'Chat') + ' · ' + s.customer_id;
      const small = document.createElement('small');
      small.textContent = (STATUS_TEXT[s.status] || s.status) + ' · ' + new Date(s.updated_at).toLocaleTimeString();
      li.appendChild(small);
      li.onclick = () => this.open(s);
      ul.appendChild(li);
    }
  },

  open(session) {
    if (this.current && this.current.id !== session.id) this.socket.leave(this.current.id);
    const same = this.current && this.current.id === session.id;
    this.current = session;
    this.showSession(session);
    if (!same) {
      this.view.clear();
      this.socket.join(session.id, 0);
    }
    for (const li of document.querySelectorAll('.sessions li')) li.classList.toggle('active', li.dataset.id === session.id);
  },

  showSession(session) {
    const mine = session.status === 'assigned' && session.assigned_agent === this.userId;
    $('agent-chat-title').textContent = (session.title || 'Chat') + ' with ' + session.customer_id + ': ' + (STATUS_TEXT[session.status] || session.status);
    $('agent-take').hidden = session.status !== 'waiting_for_agent';
    $('agent-resolve').disabled = !mine;
    $('agent-input').disabled = !mine;
    $('agent-compose').querySelector('button').disabled = !mine;
  },

  onFrame(frame) {
    if (frame.type === 'error') {
      if (!this.view.failed(frame.ref, frame.message, () => {})) notice(frame.message);
      return;
    }
    if (frame.type === 'ack') { this.view.upsert(frame.message); return; }
    if (!this.current) return;
    applyFrame(this.view, frame, this.current.id, this.userId, (change) => {
      if (change.status) {
        this.current.status = change.status;
        this.showSession(this.current);
        this.refresh().catch(() => {});
      }
      // An assignment event does not carry the session's new status: read the session.
      if (change.assignment) this.reload().catch(() => {});
    });
  },

  async send() {
    const text = $('agent-input').value.trim();
    if (!text || !this.current) return;
    $('agent-input').value = '';
    this.stopTyping();
    if ($('agent-internal').checked) {
      await api('POST', '/sessions/' + this.current.id + '/notes', this.token, { content: text });
    } else {
      const id = newId();
      this.view.pending(id, text, 'agent');
      this.socket.send(this.current.id, text, id);
    }
  },

  async take() {
    await api('POST', '/sessions/' + this.current.id + '/assign', this.token, { agent_id: this.userId });
    await this.reload();
  },

  async resolve() {
    await api('POST', '/sessions/' + this.current.id + '/resolve', this.token, {});
    await this.reload();
  },

  async reload() {
    const session = await api('GET', '/sessions/' + this.current.id, this.token);
    this.current = session.session || session;
    this.showSession(this.current);
    await this.refresh();
  },
};

function fail(err) {
  notice(err && err.message ? err.message : String(err));
}

// ---------------------------------------------------------------------------------------------
// Routing between the two views.

function route() {
  const isAgent = location.hash === '#agent';
  $('customer-view').hidden = isAgent;
  $('agent-view').hidden = !isAgent;
  $('nav-customer').classList.toggle('active', !isAgent);
  $('nav-agent').classList.toggle('active', isAgent);
  document.title = (isAgent ? 'Agent console' : 'Support') + ' · Tasklane (demo)';
}

customer.init();
agent.init();
window.addEventListener('hashchange', route);
route();
