// The kiosk, offline first. Every punch gets a client id and the tablet's
// time, is written to IndexedDB before anything else, and only then sent.
// What couldn't be sent waits in the queue (which survives reloads and
// browser restarts) and is drained through the batch endpoint with backoff,
// and whenever the network comes back. The server records a client id once,
// so sending a punch again is always safe.
"use strict";

const VERSION = document.querySelector('meta[name="kiosk-version"]').content;
const BATCH = 500;
const SEND_TIMEOUT_MS = 8000;
const MAX_BACKOFF_MS = 60000;

// --- IndexedDB: "device" holds the token, "queue" the punches to send,
// "sent" the punches the server answered (without their PIN), for replays.
function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("kiosk", 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("device");
      db.createObjectStore("queue", { keyPath: "client_id" });
      db.createObjectStore("sent", { keyPath: "client_id" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const database = openDatabase();

async function store(name, mode, work) {
  const db = await database;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(name, mode);
    const result = work(tx.objectStore(name));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

const getToken = () => store("device", "readonly", (s) => s.get("token"));
const setToken = (token) => store("device", "readwrite", (s) => s.put(token, "token"));
const queued = () => store("queue", "readonly", (s) => s.getAll());

async function answered(punches) {
  const db = await database;
  await new Promise((resolve, reject) => {
    const tx = db.transaction(["queue", "sent"], "readwrite");
    for (const punch of punches) {
      tx.objectStore("queue").delete(punch.client_id);
      tx.objectStore("sent").put({ ...punch, pin: "" });
    }
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

// --- The network. No cookies: the device token is the only credential.
async function call(path, { method = "GET", body, token } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
  try {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
  } finally {
    clearTimeout(timer);
  }
}

// --- The screen.
const $ = (id) => document.getElementById(id);
let feedbackTimer;

function show(section) {
  for (const id of ["unpaired", "choose", "pad"]) $(id).hidden = id !== section;
}

function say(message, tone) {
  const feedback = $("feedback");
  feedback.textContent = message;
  feedback.className = `min-h-12 text-center text-3xl font-semibold ${tone === "bad" ? "text-red-300" : tone === "wait" ? "text-amber-300" : "text-emerald-300"}`;
  clearTimeout(feedbackTimer);
  feedbackTimer = setTimeout(() => (feedback.textContent = ""), 8000);
}

async function showPending() {
  const count = (await queued()).length;
  const pending = $("pending");
  pending.hidden = count === 0;
  pending.textContent = `${count} waiting to sync`;
}

function showConnection() {
  $("connection").textContent = navigator.onLine ? "Online" : "Offline";
}

function hhmm(date) {
  return date.toTimeString().slice(0, 5);
}

function tick() {
  $("clock").textContent = new Date().toTimeString().slice(0, 8);
}

// RFC 3339 with the tablet's own offset, as the API asks.
function withOffset(date) {
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}${sign}${pad(Math.trunc(minutes / 60))}:${pad(minutes % 60)}`;
}

// --- Punching.
let kind = "in";
let pin = "";

function choose(chosen) {
  kind = chosen;
  pin = "";
  $("pad-title").textContent = chosen === "in" ? "Clock in: your PIN" : "Clock out: your PIN";
  $("pin").textContent = "";
  show("pad");
}

async function enter(digit) {
  if (pin.length >= 4) return;
  pin += digit;
  $("pin").textContent = "•".repeat(pin.length);
  if (pin.length === 4) {
    const entered = pin;
    pin = "";
    show("choose");
    await punch(kind, entered);
  }
}

async function punch(chosenKind, enteredPin) {
  const now = new Date();
  const record = { client_id: crypto.randomUUID(), pin: enteredPin, kind: chosenKind, at: withOffset(now) };
  await store("queue", "readwrite", (s) => s.put(record));
  await showPending();
  const token = await getToken();
  let response;
  try {
    response = await call("/api/v1/kiosk/punches", { method: "POST", body: record, token });
  } catch {
    response = undefined;
  }
  if (response && (response.status === 201 || response.status === 422 || response.status === 429)) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 429) {
      // Refused before it was stored: the person is told to try again.
      await store("queue", "readwrite", (s) => s.delete(record.client_id));
    } else {
      await answered([record]);
    }
    say(body.message || (body.error && body.error.message) || "Saved.", response.status === 201 ? "good" : "bad");
  } else if (response && response.status === 401) {
    unpaired("This tablet's pairing was revoked: pair it again from the Kiosks page. Its punches wait here.");
  } else {
    say(`Saved ${hhmm(now)} — will sync`, "wait");
    schedule(0);
  }
  await showPending();
}

// --- Draining the queue, oldest first, with backoff.
let backoff = 1000;
let drainTimer;
let draining = false;

function schedule(delay) {
  clearTimeout(drainTimer);
  drainTimer = setTimeout(drain, delay);
}

async function drain() {
  if (draining) return;
  draining = true;
  try {
    const token = await getToken();
    let waiting = (await queued()).sort((a, b) => a.at.localeCompare(b.at));
    while (token && waiting.length > 0) {
      const batch = waiting.slice(0, BATCH);
      const response = await call("/api/v1/kiosk/punches/batch", { method: "POST", body: { punches: batch }, token });
      if (response.status === 401) {
        unpaired("This tablet's pairing was revoked: pair it again from the Kiosks page. Its punches wait here.");
        return;
      }
      if (!response.ok) throw new Error(`batch answered ${response.status}`);
      const { results } = await response.json();
      // A punch answered 429 (too many wrong PINs on this tablet) was not
      // recorded: it stays queued and goes again after the backoff.
      const done = new Set(results.filter((r) => r.status !== 429).map((r) => r.client_id));
      await answered(batch.filter((p) => done.has(p.client_id)));
      if (done.size < results.length) throw new Error("some punches must wait");
      waiting = waiting.slice(BATCH);
    }
    backoff = 1000;
  } catch {
    schedule(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  } finally {
    draining = false;
    await showPending();
  }
}

// Sends every answered punch again: the server answers each as the first
// time and records nothing new (used to prove that replays are safe).
async function replaySent() {
  const token = await getToken();
  const sent = await store("sent", "readonly", (s) => s.getAll());
  for (let i = 0; i < sent.length; i += BATCH) {
    await call("/api/v1/kiosk/punches/batch", { method: "POST", body: { punches: sent.slice(i, i + BATCH) }, token });
  }
  return sent.length;
}

// --- Pairing and the device.
function unpaired(reason) {
  if (reason) $("unpaired-reason").textContent = reason;
  show("unpaired");
}

async function pairIfAsked() {
  const code = new URLSearchParams(location.hash.slice(1)).get("pair");
  if (!code) return;
  history.replaceState(null, "", location.pathname);
  const response = await call("/api/v1/kiosk/pair", { method: "POST", body: { code } });
  if (response.status === 201) {
    await setToken((await response.json()).token);
  } else {
    const body = await response.json().catch(() => ({}));
    say((body.error && body.error.message) || "This pairing link doesn't work.", "bad");
  }
}

async function loadDevice() {
  const token = await getToken();
  if (!token) return unpaired();
  show("choose");
  try {
    const response = await call("/api/v1/kiosk/device", { token });
    if (response.status === 401) return unpaired("This tablet's pairing was revoked: pair it again from the Kiosks page.");
    if (response.ok) {
      const device = await response.json();
      $("location").textContent = `${device.location_name} · ${device.name}`;
      localStorage.setItem("kiosk-location", $("location").textContent);
    }
  } catch {
    $("location").textContent = localStorage.getItem("kiosk-location") || $("location").textContent;
  }
}

// A newer deploy reloads the shell, so a stale cache can't linger.
async function checkVersion() {
  try {
    const response = await call("/kiosk/version");
    if (response.ok && (await response.json()).version !== VERSION) location.reload();
  } catch {
    // Offline: the cached shell keeps working.
  }
}

async function start() {
  for (const button of document.querySelectorAll("[data-kind]")) {
    button.addEventListener("click", () => choose(button.dataset.kind));
  }
  for (const button of document.querySelectorAll("[data-digit]")) {
    button.addEventListener("click", () => enter(button.dataset.digit));
  }
  $("erase").addEventListener("click", () => {
    pin = pin.slice(0, -1);
    $("pin").textContent = "•".repeat(pin.length);
  });
  $("cancel").addEventListener("click", () => show("choose"));
  window.addEventListener("online", () => {
    showConnection();
    backoff = 1000;
    schedule(0);
  });
  window.addEventListener("offline", showConnection);
  window.addEventListener("focus", () => {
    checkVersion();
    schedule(0);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      checkVersion();
      schedule(0);
    }
  });
  setInterval(tick, 1000);
  tick();
  showConnection();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(`/kiosk/sw.js?v=${VERSION}`, { scope: "/kiosk" }).catch(() => {});
  }
  await pairIfAsked();
  await loadDevice();
  await showPending();
  schedule(0);
}

window.kiosk = { punch, drain, replaySent, queued };
start();
