// The operator console: the cluster view from /cluster/health, kept live over Server-Sent Events
// (/cluster/health/stream: the whole view, then only what changed), falling back to polling.
"use strict";

const STATUSES = ["unhealthy", "unknown", "degraded", "starting", "stopping", "healthy"];
const STATES = ["alive", "suspect", "dead", "left"];
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const view = { summary: null, nodes: new Map(), receivedAt: 0, revision: 0, history: [], events: [] };
let selected = null;
let focusID = null;

// ---- Filters, kept in the URL so that a view can be shared ----
function readFilters() {
  const q = new URLSearchParams(location.search);
  const list = name => (q.get(name) || "").split(",").filter(Boolean);
  return { group: q.get("group") || "", status: new Set(list("status")), state: q.get("state") || "", label: q.get("label") || "", node: q.get("node") || "" };
}
let filters = readFilters();

function writeFilters() {
  const q = new URLSearchParams();
  if (filters.group) q.set("group", filters.group);
  if (filters.status.size) q.set("status", [...filters.status].join(","));
  if (filters.state) q.set("state", filters.state);
  if (filters.label) q.set("label", filters.label);
  if (filters.node) q.set("node", filters.node);
  const search = q.toString();
  history.replaceState(null, "", location.pathname + (search ? "?" + search : "") + location.hash);
}

function matches(n) {
  if (filters.status.size && !filters.status.has(n.status)) return false;
  if (filters.state && n.state !== filters.state) return false;
  if (filters.label) {
    const [key, value] = filters.label.split("=", 2);
    const have = (n.labels || {})[key];
    if (have === undefined || (value !== undefined && have !== value)) return false;
  }
  if (filters.node && !n.node_id.includes(filters.node) && !n.fingerprint.startsWith(filters.node.toLowerCase())) return false;
  return true;
}

function setUpFilters() {
  const box = $("status-filter");
  for (const s of STATUSES) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${s}"> ${s}`;
    label.firstChild.checked = filters.status.has(s);
    box.appendChild(label);
  }
  box.addEventListener("change", e => { e.target.checked ? filters.status.add(e.target.value) : filters.status.delete(e.target.value); changed(); });
  $("state").value = filters.state;
  $("label").value = filters.label;
  $("search").value = filters.node;
  $("group").addEventListener("change", e => { filters.group = e.target.value; changed(); });
  $("state").addEventListener("change", e => { filters.state = e.target.value; changed(); });
  $("label").addEventListener("input", e => { filters.label = e.target.value.trim(); changed(); });
  $("search").addEventListener("input", e => { filters.node = e.target.value.trim(); changed(); });
  $("filters").addEventListener("submit", e => e.preventDefault());
  $("span").addEventListener("change", renderTimeline);
  function changed() { writeFilters(); renderMap(); }
}

// ---- Rendering ----
const colour = s => `var(--${["healthy", "degraded", "unhealthy", "starting", "stopping"].includes(s) ? s : "unknown"})`;
const rank = n => (n.state === "dead" ? 1 : STATUSES.indexOf(n.status));
const age = seconds => seconds == null ? "–" : seconds < 90 ? `${Math.round(seconds)} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
const since = () => (Date.now() - view.receivedAt) / 1000;

function renderSummary() {
  const h = view.summary;
  if (!h) return;
  const badge = $("badge");
  badge.textContent = h.status;
  badge.style.background = colour(h.status);
  document.title = `${h.status} · chorus cluster health`;
  $("headline").textContent = `${h.node_count} nodes · leader ${h.election.leader ?? "none"}, term ${h.election.term ?? "–"}`;
  $("observer").textContent = h.observer;
  const byStatus = STATUSES.filter(s => h.by_status[s]).map(s => `<span class="count"><b>${h.by_status[s]}</b> ${s}</span>`);
  const byState = STATES.filter(s => h.by_state[s]).map(s => `<span class="count"><b>${h.by_state[s]}</b> ${s}</span>`);
  const group = filters.group && h.by_label && h.by_label[filters.group];
  // Up to 8 groups fit the counts line; with more (16 racks) each group's heading on the map carries its counts.
  const groupValues = group ? Object.keys(group).sort() : [];
  const byGroup = groupValues.length <= 8 ? groupValues.map(v => `<span class="count"><b>${group[v]}</b> ${esc(filters.group)}=${esc(v)}</span>`) : [];
  $("counts").innerHTML = [byStatus.join(""), byState.join(""), byGroup.join("")].filter(Boolean).join('<span class="sep">|</span>')
    + `<span class="legend"><span class="cell s-healthy"></span>healthy <span class="cell s-degraded"></span>degraded <span class="cell s-unhealthy"></span>unhealthy <span class="cell s-unknown"></span>unknown <span class="cell dead"></span>dead <span class="cell s-healthy stale"></span>stale <span class="cell s-healthy flapping"></span>flapping <span class="cell s-healthy leader"></span>leader</span>`;
  const e = h.election;
  $("leader").textContent = e.leader ? "★ " + e.leader : "no leader";
  $("election").textContent = `term ${e.term ?? "–"} · agreement ${Math.round(e.agreement * 100)} % · ${e.changes_last_15m ?? 0} changes in 15 min · stability ${e.stability}`;
  const p = h.peers;
  $("peers").textContent = p.min == null ? "–" : `${p.min} / ${p.average} / ${p.max}`;
  $("peers-detail").textContent = `min / avg / max · required ${p.required}` + (p.below_minimum.length ? ` · ${p.below_minimum.length} below` : "");
  const r = h.replication;
  $("replication").textContent = r.average_factor == null ? "no keys" : `factor ${r.average_factor}`;
  $("replication-detail").textContent = `${r.stored_keys} stored · ${r.under_replicated_keys} under-replicated · ${r.provider_records} provider records`;
  $("reason-count").textContent = h.reasons.length ? `(${h.reasons.length})` : "";
  $("reasons").innerHTML = h.reasons.length ? h.reasons.map(x => `<li>${esc(x)}</li>`).join("") : "<li>all nodes healthy, one leader agreed</li>";
  // Only the statuses some node has (or a filter asks for) get a checkbox: the filter row stays one line.
  for (const box of $("status-filter").querySelectorAll("input")) {
    box.parentElement.hidden = !h.by_status[box.value] && !box.checked;
  }
  const select = $("group");
  const keys = Object.keys(h.by_label || {}).sort();
  const have = [...select.options].map(o => o.value).slice(1);
  if (keys.join() !== have.join()) {
    select.innerHTML = '<option value="">nothing</option>' + keys.map(k => `<option>${esc(k)}</option>`).join("");
  }
  if (!filters.group && !readFilters().group && keys.length) filters.group = keys.includes("zone") ? "zone" : keys[0];
  select.value = filters.group;
}

function cellClass(n, leader) {
  let c = "cell s-" + n.status;
  if (n.state === "dead" || n.state === "left") c += " dead";
  if (n.stale) c += " stale";
  if (n.flapping || n.flapping_checks) c += " flapping";
  if (leader && n.node_id === leader) c += " leader";
  if (selected === n.node_id) c += " selected";
  return c;
}

function cellTitle(n) {
  let t = `${n.node_id}: ${n.status}, ${n.state}`;
  if (n.stale) t += ", stale";
  if (n.failing_checks.length) t += ` · failing: ${n.failing_checks.join(", ")}`;
  if (n.degraded_checks.length) t += ` · degraded: ${n.degraded_checks.join(", ")}`;
  if (n.flapping) t += ` · flapping (${n.flapping.changes} changes)`;
  return t;
}

function renderMap() {
  const leader = view.summary && view.summary.election.leader;
  const shown = [...view.nodes.values()].filter(matches);
  shown.sort((a, b) => rank(a) - rank(b) || (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0));
  const groups = new Map();
  for (const n of shown) {
    const key = filters.group ? ((n.labels || {})[filters.group] ?? "(none)") : "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(n);
  }
  const names = [...groups.keys()].sort((a, b) => (a === "(none)") - (b === "(none)") || (a < b ? -1 : 1));
  if (!shown.some(n => n.node_id === focusID)) focusID = shown.length ? shown[0].node_id : null;
  // Up to 60 nodes the cells are tiles that carry their names; beyond, a dense map of squares.
  $("map").className = "map " + (shown.length <= 60 ? "roomy" : "dense");
  $("map").innerHTML = names.map(name => {
    const members = groups.get(name);
    const bad = members.filter(n => n.status !== "healthy").length;
    const head = filters.group ? `<h3>${esc(filters.group)}=${esc(name)} <span class="muted">${members.length} nodes${bad ? `, ${bad} not healthy` : ""}</span></h3>` : "";
    return `<div class="group">${head}<div class="cells">` + members.map(n =>
      `<button type="button" class="${cellClass(n, leader)}" data-node="${esc(n.node_id)}" title="${esc(cellTitle(n))}" aria-label="${esc(cellTitle(n))}" tabindex="${n.node_id === focusID ? 0 : -1}"><span class="name">${esc(n.node_id)}</span></button>`
    ).join("") + "</div></div>";
  }).join("");
  $("shown").textContent = `${shown.length} of ${view.nodes.size} shown`;
}

// ---- The timeline: the cluster's status over the last hour or day, with events ----
function renderTimeline() {
  const svg = $("timeline");
  const width = svg.clientWidth || 1000, height = 48, band = 24;
  const span = Number($("span").value) * 1000, end = Date.now(), start = end - span;
  const x = t => Math.max(0, Math.min(width, (t - start) / span * width));
  const points = view.history.map(h => ({ t: Date.parse(h.time), h })).filter(p => !isNaN(p.t));
  let parts = [];
  points.forEach((p, i) => {
    const next = i + 1 < points.length ? points[i + 1].t : end;
    if (next < start) return;
    const x0 = x(p.t), x1 = x(next);
    const tip = `${new Date(p.t).toLocaleTimeString()}: ${p.h.status} (${p.h.healthy} healthy, ${p.h.degraded} degraded, ${p.h.unhealthy} unhealthy, ${p.h.unknown} unknown)${p.h.reason ? " — " + p.h.reason : ""}`;
    parts.push(`<rect x="${x0}" y="0" width="${Math.max(1, x1 - x0)}" height="${band}" fill="${colour(p.h.status)}"><title>${esc(tip)}</title></rect>`);
  });
  for (const e of view.events) {
    const t = Date.parse(e.time);
    if (t < start) continue;
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${band}" y2="${band + 8}" stroke="#e6e6e6"><title>${esc(`${new Date(t).toLocaleTimeString()} ${e.node}${e.check ? " " + e.check : ""}: ${e.from ?? ""} → ${e.to}`)}</title></line>`);
  }
  const step = span <= 3600e3 ? 10 * 60e3 : 2 * 3600e3;
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    const label = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${band}" y2="${band + 4}" stroke="#8b949e"/><text x="${x(t) + 2}" y="${height - 4}">${label}</text>`);
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.innerHTML = `<rect x="0" y="0" width="${width}" height="${band}" fill="#1d232b"/>` + parts.join("");
  const first = points.length ? new Date(points[0].t).toLocaleString() : "–";
  $("timeline-legend").textContent = `${points.length} samples since ${first}` + (view.events.length ? ` · ${view.events.length} events (ticks)` : " · no event history on this node");
}

// ---- A node's drill-down, with its signed status verified here ----
function hexBytes(hex) { return Uint8Array.from(hex.match(/../g) || [], b => parseInt(b, 16)); }
function toHex(bytes) { return [...bytes].map(b => b.toString(16).padStart(2, "0")).join(""); }

/// The signed payload, as docs/wire-format.md lays it out.
function decodePayload(p) {
  // Every read is bounds-checked: a truncated or hostile payload is an error ("does not
  // decode"), never an undefined field or a broken page.
  let i = 0;
  const need = n => { if (i + n > p.length) throw new Error(`truncated: ${n} bytes needed at byte ${i} of ${p.length}`); };
  const u8 = () => { need(1); return p[i++]; };
  const un = n => { need(n); let v = 0n; for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(p[i++]); return v; };
  const bytes = n => { need(n); const b = p.slice(i, i + n); i += n; return b; };
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const str = n => { const len = Number(un(n)); try { return utf8.decode(bytes(len)); } catch (e) { if (e instanceof TypeError) throw new Error(`invalid UTF-8 before byte ${i}`); throw e; } };
  if (p.length < 16 || new TextDecoder().decode(p.slice(0, 16)) !== "CHORUS-STATUS-v1") throw new Error("wrong domain tag");
  i = 16;
  if (u8() !== 1) throw new Error("unknown format version");
  const key = toHex(bytes(32));
  const out = { key, generation: un(8), version: un(8), issuedAt: Number(un(8)) };
  const code = u8();
  out.status = ["healthy", "degraded", "unhealthy", "starting", "stopping"][code];
  if (!out.status) throw new Error(`unknown status code ${code}`);
  out.uptime = Number(un(4));
  out.nodeID = str(1); out.software = str(1); out.message = str(2);
  out.checks = [];
  for (let n = u8(); n > 0; n--) {
    const name = str(1), flags = u8(), latency = Number(un(4)), message = str(1);
    out.checks.push({ name, healthy: !!(flags & 1), critical: !!(flags & 2), degraded: !!(flags & 4), latency, message });
  }
  out.labels = Object.create(null);
  for (let n = u8(); n > 0; n--) {
    const type = u8(), value = bytes(u8());
    if (type === 4) out.labels = decodeLabels(value);
  }
  if (i !== p.length) throw new Error(`${p.length - i} trailing bytes`);
  return out;
}

/// The labels extension (docs/wire-format.md): malformed ones show no labels and never refuse the
/// status, as on the server.
function decodeLabels(value) {
  const labels = Object.create(null);
  try {
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    let j = 2;
    const take = () => { if (j >= value.length) throw new Error("truncated"); const len = value[j++]; if (j + len > value.length) throw new Error("truncated"); const s = utf8.decode(value.slice(j, j + len)); j += len; return s; };
    if (value.length < 2) throw new Error("truncated");
    for (let c = value[1]; c > 0; c--) { const k = take(); labels[k] = take(); }
    if (j !== value.length) throw new Error("trailing bytes");
    return labels;
  } catch (_) {
    return Object.create(null);
  }
}

/// A time in Unix milliseconds for people, or what is wrong with it (2^64−1 is no date).
function isoTime(ms) {
  const d = new Date(ms);
  return isNaN(d.getTime()) ? `an impossible time (${ms} ms)` : d.toISOString();
}

function pinnedKeys() { return (localStorage.getItem("chorus.pinned") || "").split(/\s+/).filter(k => /^[0-9a-f]{64}$/.test(k)); }

/// {state: "verified" | "not-verified" | "cannot-verify", text, fields?}
async function verify(doc) {
  let payload, fields;
  try {
    payload = Uint8Array.from(atob(doc.payload), c => c.charCodeAt(0));
    fields = decodePayload(payload);
  } catch (error) {
    return { state: "not-verified", text: `the payload does not decode: ${error.message}` };
  }
  if (fields.key !== doc.public_key) return { state: "not-verified", text: "the payload names another key than the one served", fields };
  if (!window.isSecureContext || !crypto.subtle) {
    return { state: "cannot-verify", fields, text: "this page is not in a secure context (HTTPS, or localhost / 127.0.0.1 as with kubectl port-forward), so the browser offers no WebCrypto: run the command below instead" };
  }
  let ok;
  try {
    const key = await crypto.subtle.importKey("raw", hexBytes(fields.key), { name: "Ed25519" }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key, hexBytes(doc.signature), payload);
  } catch (error) {
    return { state: "cannot-verify", fields, text: `this browser cannot verify Ed25519 (${error.message}): run the command below instead` };
  }
  if (!ok) return { state: "not-verified", fields, text: "the Ed25519 signature does not match these bytes: the status was altered" };
  if (pinnedKeys().includes(fields.key)) return { state: "verified", fields, text: "signature valid, by a key you pinned in this browser" };
  let trust = null;
  try { trust = await (await fetch("/cluster/trust")).json(); } catch (_) { }
  if (trust && trust.keys.includes(fields.key)) return { state: "verified", fields, text: "signature valid, by a key in the serving node's trust list (pin the key to depend on this browser alone)" };
  if (trust && trust.mode === "any") return { state: "verified", fields, text: "signature valid; the serving node runs in open mode (--trust-any), so any key is accepted: pin the keys you expect" };
  return { state: "not-verified", fields, text: "signature valid, but by a key neither pinned here nor trusted by the serving node" };
}

async function openNode(id) {
  selected = id;
  location.hash = "node=" + encodeURIComponent(id);
  renderMap();
  const n = view.nodes.get(id);
  const panel = $("drill"), body = $("drill-body");
  panel.hidden = false;
  if (!n) { body.innerHTML = `<h2>${esc(id)}</h2><p>not in this node's view</p>`; return; }
  const dt = Date.now();
  const statusAge = n.status_age_seconds == null ? null : n.status_age_seconds + since();
  const stateAge = n.state_age_seconds == null ? null : n.state_age_seconds + since();
  const row = (k, v) => `<tr><th>${k}</th><td>${v}</td></tr>`;
  body.innerHTML = `<h2>${esc(n.node_id)}</h2>
    <div><span class="badge s-${esc(n.status)}">${esc(n.status)}</span> ${esc(n.state)}${n.stale ? " · stale" : ""}${n.flapping ? ` · flapping (${n.flapping.changes} changes since ${esc(n.flapping.since)})` : ""}</div>
    <h3>Reported and observed</h3><table>
    ${row("reported", `${esc(n.reported_status ?? "–")}, ${n.connected_peers ?? "–"} peers — signed ${age(statusAge)} ago${n.status_issued_at ? ` (${esc(n.status_issued_at)} by its clock)` : ""}`)}
    ${row("observed here", `${esc(n.state)} for ${age(stateAge)}, ${n.observed_peers ?? "–"} live peers in this node's membership`)}
    ${row("last transition", esc(n.last_transition ?? "–"))}
    ${row("labels", n.labels ? Object.entries(n.labels).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") : "none")}
    ${row("generation, version", `${n.generation}, ${n.version ?? "–"}`)}
    ${row("fingerprint", `<span class="mono">${esc(n.fingerprint)}</span>`)}
    ${n.message ? row("message", esc(n.message)) : ""}
    </table>
    <h3>Signed status</h3><div id="drill-signed">fetching /cluster/nodes/${esc(id)}/status…</div>
    <h3>Events</h3><div id="drill-events" class="muted">…</div>`;
  const [signed, events] = await Promise.all([
    fetch(`/cluster/nodes/${encodeURIComponent(id)}/status`).then(r => r.ok ? r.json() : null).catch(() => null),
    fetch(`/cluster/events?node=${encodeURIComponent(id)}&limit=20`).then(r => r.ok ? r.json() : null).catch(() => null),
  ]);
  if (selected !== id) return;
  const signedBox = $("drill-signed");
  if (!signed) {
    signedBox.textContent = "this node holds no signed status of it";
  } else {
    const result = await verify(signed);
    const f = result.fields;
    const command = `curl -s ${location.origin}/cluster/nodes/${encodeURIComponent(id)}/status | python3 scripts/verify_status.py`;
    const lastChange = n.checks_last_transition || {};
    const checks = f ? f.checks.map(c => {
      const level = !c.healthy ? "failing" : c.degraded ? "degraded" : "passing";
      const changed = lastChange[c.name] && Date.parse(lastChange[c.name]) > f.issuedAt;
      const message = changed ? "<i>changed since this status was signed; the next one will say how</i>" : esc(c.message);
      return `<tr><th>${esc(c.name)}</th><td>${level}${c.critical ? ", critical" : ""}: ${message}${lastChange[c.name] ? ` <span class="muted">(since ${esc(lastChange[c.name])})</span>` : ""}</td></tr>`;
    }).join("") : "";
    signedBox.innerHTML = `<div id="verification" class="${result.state}" data-verification="${result.state}">${{ verified: "✔ verified", "not-verified": "✘ not verified", "cannot-verify": "? cannot verify here" }[result.state]}: ${esc(result.text)}</div>
      ${f ? `<table>${row("signed", `${esc(f.nodeID)}, ${esc(f.status)}, generation ${f.generation}, version ${f.version}, at ${esc(isoTime(f.issuedAt))}`)}${row("key", `<span class="mono">${esc(f.key)}</span>`)}${row("signed labels", Object.keys(f.labels).length ? Object.entries(f.labels).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") : "none")}</table>
      <p class="muted">Messages are as of the signature (${dt >= f.issuedAt ? age((dt - f.issuedAt) / 1000) + " ago" : "its signer's clock is ahead of this browser's"}).</p><table>${checks}</table>` : ""}
      <p class="muted">Pin keys (hex, space-separated) to verify without trusting this node: <input id="pins" class="mono" size="30" value="${esc(pinnedKeys().join(" "))}"></p>
      <p class="muted">By hand: <code>${esc(command)}</code></p>`;
    $("pins").addEventListener("change", e => { localStorage.setItem("chorus.pinned", e.target.value.trim()); openNode(id); });
  }
  const eventBox = $("drill-events");
  if (!events) {
    eventBox.textContent = "this node keeps no event history (--no-history)";
  } else if (!events.events.length) {
    eventBox.textContent = "none recorded";
  } else {
    eventBox.classList.remove("muted");
    eventBox.innerHTML = "<table>" + events.events.map(e => `<tr><th>${esc(e.time)}</th><td>${esc(e.kind)}${e.check ? " " + esc(e.check) : ""}: ${esc(e.from ?? "")} → ${esc(e.to)}</td></tr>`).join("") + "</table>"
      + `<p><a href="/cluster/nodes/${encodeURIComponent(id)}/history">its history (uptime, time in each status)</a></p>`;
  }
}

function closeNode() {
  $("drill").hidden = true;
  selected = null;
  history.replaceState(null, "", location.pathname + location.search);
  renderMap();
}

// ---- Keyboard: one tab stop in the map; arrows move, Enter opens, Escape closes ----
function setUpMap() {
  const map = $("map");
  map.addEventListener("click", e => { const cell = e.target.closest(".cell[data-node]"); if (cell) openNode(cell.dataset.node); });
  map.addEventListener("keydown", e => {
    const cells = [...map.querySelectorAll(".cell[data-node]")];
    const at = cells.indexOf(document.activeElement);
    if (at < 0) return;
    let next = at;
    const perRow = Math.max(1, cells.filter(c => c.offsetTop === cells[at].offsetTop && c.parentNode === cells[at].parentNode).length);
    if (e.key === "ArrowRight") next = at + 1;
    else if (e.key === "ArrowLeft") next = at - 1;
    else if (e.key === "ArrowDown") next = at + perRow;
    else if (e.key === "ArrowUp") next = at - perRow;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = cells.length - 1;
    else return;
    e.preventDefault();
    next = Math.max(0, Math.min(cells.length - 1, next));
    cells[at].tabIndex = -1;
    cells[next].tabIndex = 0;
    cells[next].focus();
    focusID = cells[next].dataset.node;
  });
  $("drill-close").addEventListener("click", closeNode);
  document.addEventListener("keydown", e => { if (e.key === "Escape" && !$("drill").hidden) closeNode(); });
}

// ---- Data: the stream, or polling when the stream is unavailable ----
function takeView(doc) {
  const { nodes, ...summary } = doc;
  view.summary = summary;
  view.nodes = new Map(nodes.map(n => [n.node_id, n]));
  view.receivedAt = Date.now();
}

function applyChange(change) {
  // Unchanged entries keep their ages, advanced by the time since they came.
  const elapsed = since();
  for (const n of view.nodes.values()) {
    if (n.status_age_seconds != null) n.status_age_seconds += elapsed;
    if (n.state_age_seconds != null) n.state_age_seconds += elapsed;
  }
  view.receivedAt = Date.now();
  view.summary = { ...change.summary, generated_at: change.generated_at };
  for (const n of change.nodes) view.nodes.set(n.node_id, n);
  for (const id of change.removed) view.nodes.delete(id);
}

let pending = false;
function redraw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderSummary();
    renderMap();
    // The first full render, for the benchmark (performance.getEntriesByName("first-render")).
    if (!performance.getEntriesByName("first-render").length) performance.mark("first-render");
    $("live").textContent = `${stream ? "live" : "polling"} · updated ${new Date().toLocaleTimeString()}`;
  });
}

let stream = null;
function connect() {
  if (!window.EventSource) return poll();
  stream = new EventSource("/cluster/health/stream");
  stream.addEventListener("view", e => { takeView(JSON.parse(e.data)); redraw(); });
  stream.addEventListener("change", e => { applyChange(JSON.parse(e.data)); redraw(); });
  stream.onerror = () => {
    if (stream.readyState === EventSource.CLOSED) { stream = null; poll(); }
    else $("live").textContent = "reconnecting…";
  };
}

async function poll() {
  try {
    const response = await fetch("/cluster/health");
    takeView(await response.json());
    redraw();
  } catch (error) {
    $("live").textContent = "cannot reach the node: " + error;
  }
  setTimeout(stream ? () => { } : poll, 2000);
}

async function refreshHistory() {
  try {
    view.history = await (await fetch("/cluster/history")).json();
    const span = Number($("span").value);
    const events = await fetch(`/cluster/events?since=${span}s&limit=500`);
    view.events = events.ok ? (await events.json()).events : [];
  } catch (_) { }
  renderTimeline();
}

setUpFilters();
setUpMap();
connect();
refreshHistory();
setInterval(refreshHistory, 15000);
// #node=ID opens that node (a link to a drill-down can be shared, and the back button works).
function openFromHash() {
  const id = new URLSearchParams(location.hash.slice(1)).get("node");
  if (!id) { if (!$("drill").hidden) closeNode(); return; }
  if (id === selected && !$("drill").hidden) return;
  const waitForView = () => view.summary ? openNode(id) : setTimeout(waitForView, 50);
  waitForView();
}
window.addEventListener("hashchange", openFromHash);
openFromHash();
