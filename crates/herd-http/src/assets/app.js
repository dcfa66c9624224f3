// The herd dashboard: topology and figures from /api/herd (polled), clients from
// /api/clients and live from /events. Everything comes from the server that served the page.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// Failures the page met, for people and for the browser test.
window.herdErrors = [];
const clients = new Map();
let herd = null;

function fail(what) {
  window.herdErrors.push(String(what));
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

async function getJson(url) {
  const answer = await fetch(url, { cache: "no-store" });
  if (!answer.ok) throw new Error(url + ": HTTP " + answer.status);
  return answer.json();
}

function drawGraticule() {
  const g = document.getElementById("graticule");
  for (let lng = -180; lng <= 180; lng += 30) el("line", { x1: lng, y1: -90, x2: lng, y2: 90, class: "grid" }, g);
  for (let lat = -90; lat <= 90; lat += 30) {
    el("line", { x1: -180, y1: -lat, x2: 180, y2: -lat, class: lat === 0 ? "grid equator" : "grid" }, g);
  }
}

// Whether the link a-b is up, by what either end says (a server that does not answer says
// nothing; a link nobody vouches for is down).
function linkUp(byName, a, b) {
  for (const [me, other] of [[a, b], [b, a]]) {
    const status = byName.get(me);
    if (!status) continue;
    const n = (status.neighbours || []).find((x) => x.name === other);
    if (n && n.up) return true;
  }
  return false;
}

function drawTopology() {
  const svg = document.getElementById("topology");
  svg.replaceChildren();
  if (!herd) return;
  const servers = herd.servers;
  const byName = new Map(servers.filter((s) => s.status).map((s) => [s.server.name, s.status]));
  const at = new Map();
  servers.forEach((s, i) => {
    const angle = (2 * Math.PI * i) / servers.length - Math.PI / 2;
    at.set(s.server.name, [200 + 115 * Math.cos(angle), 150 + 110 * Math.sin(angle)]);
  });
  const seen = new Set();
  for (const s of servers) {
    for (const n of s.server.neighbours) {
      const key = [s.server.name, n].sort().join("-");
      if (seen.has(key) || !at.has(n)) continue;
      seen.add(key);
      const [x1, y1] = at.get(s.server.name);
      const [x2, y2] = at.get(n);
      const up = linkUp(byName, s.server.name, n);
      const line = el("line", { x1, y1, x2, y2, class: "link " + (up ? "up" : "down"), "data-link": key, "data-state": up ? "up" : "down" }, svg);
      el("title", {}, line).textContent = key + (up ? " up" : " down");
    }
  }
  for (const s of servers) {
    const [x, y] = at.get(s.server.name);
    const up = !!s.status;
    const cls = "server " + (up ? "up" : "down") + (s.server.name === herd.server ? " self" : "");
    const g = el("g", { class: cls, "data-server": s.server.name, "data-state": up ? "up" : "down" }, svg);
    el("circle", { cx: x, cy: y, r: 16 }, g);
    el("text", { x, y: y - 21 }, g).textContent = s.server.name;
    const figure = el("text", { x, y: y + 30, class: "figure" }, g);
    figure.textContent = up ? s.status.clients + " clients" : "not answering";
  }
}

function drawFigures() {
  const body = document.querySelector("#figures tbody");
  body.replaceChildren();
  if (!herd) return;
  for (const s of herd.servers) {
    const st = s.status;
    const tr = document.createElement("tr");
    tr.dataset.server = s.server.name;
    const linksUp = st ? st.neighbours.filter((n) => n.up).length + "/" + st.neighbours.length : "–";
    const cells = [
      s.server.name,
      s.server.address,
      st ? "up" : "down",
      st ? st.clients : "–",
      st ? st.connections : "–",
      st ? st.commands.IAMAT : "–",
      st ? st.commands.WHATSAT : "–",
      st ? st.commands.invalid : "–",
      st && st.store ? st.store.records_written : "–",
      linksUp,
    ];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 2) td.className = st ? "up" : "down";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
}

async function drawLand() {
  try {
    const land = await getJson("/api/land");
    const g = document.getElementById("land");
    const half = land.step / 2;
    for (const [lat, lng] of land.cells) {
      el("rect", { x: lng - half, y: -lat - half, width: land.step, height: land.step, class: "land" }, g);
    }
  } catch (e) {
    fail(e);
  }
}

async function refreshHerd() {
  try {
    herd = await getJson("/api/herd");
    document.getElementById("served").textContent = "served by " + herd.server;
  } catch (e) {
    fail(e);
    herd = null;
  }
  drawTopology();
  drawFigures();
}

function place(record) {
  const markers = document.getElementById("markers");
  let dot = clients.get(record.client);
  if (!dot) {
    dot = el("circle", { r: 2, class: "client" }, markers);
    dot.dataset.client = record.client;
    el("title", {}, dot);
    clients.set(record.client, dot);
  }
  dot.setAttribute("cx", record.lng);
  dot.setAttribute("cy", -record.lat);
  dot.firstChild.textContent = record.client + " " + record.location + " (via " + record.origin + ")";
  document.getElementById("client-count").textContent = "(" + clients.size + ")";
}

async function loadClients() {
  try {
    const found = await getJson("/api/clients?near=0,0&limit=1000");
    for (const record of found.clients) place(record);
  } catch (e) {
    fail(e);
  }
}

function listen() {
  const feed = new EventSource("/events");
  const badge = document.getElementById("feed");
  feed.onopen = () => { badge.textContent = "events: live"; badge.className = "badge live"; };
  feed.onerror = () => { badge.textContent = "events: reconnecting"; badge.className = "badge"; };
  feed.addEventListener("location", (e) => place(JSON.parse(e.data)));
  feed.addEventListener("forget", (e) => {
    const client = JSON.parse(e.data).client;
    const dot = clients.get(client);
    if (dot) dot.remove();
    clients.delete(client);
    document.getElementById("client-count").textContent = "(" + clients.size + ")";
  });
  feed.addEventListener("link", () => refreshHerd());
  feed.addEventListener("lagged", () => loadClients());
  feed.addEventListener("forgot", () => {
    for (const dot of clients.values()) dot.remove();
    clients.clear();
    loadClients();
  });
}

async function search(event) {
  event.preventDefault();
  const id = document.getElementById("search-id").value.trim();
  const out = document.getElementById("found");
  if (!id) return;
  for (const dot of clients.values()) dot.classList.remove("found");
  const answer = await fetch("/api/clients/" + encodeURIComponent(id), { cache: "no-store" });
  if (answer.status === 404) { out.textContent = "no client " + id; return; }
  if (!answer.ok) { fail("search: HTTP " + answer.status); return; }
  const record = await answer.json();
  out.textContent = record.at;
  place(record);
  clients.get(record.client).classList.add("found");
}

window.addEventListener("error", (e) => fail(e.message || (e.target && e.target.src) || "error"), true);
document.addEventListener("securitypolicyviolation", (e) => fail("CSP: " + e.blockedURI));
document.addEventListener("DOMContentLoaded", () => {
  drawGraticule();
  drawLand();
  document.getElementById("search").addEventListener("submit", search);
  refreshHerd();
  loadClients();
  listen();
  setInterval(refreshHerd, 1000);
});
