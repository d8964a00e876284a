import NodeHealth

/// The `/cluster` page: one self-contained HTML document (no external assets) that shows the
/// node grid coloured by status with the leader marked, the election, peer and replication
/// figures, the reasons, and the recent history; it renders the state it was served with at
/// once and then refreshes itself from `/cluster/health` and `/cluster/history` every 2 s.
public enum Dashboard {
    /// The page, with `health` and `history` embedded for the first paint.
    public static func page(health: ClusterHealth, history: [ClusterMonitor.Entry]) -> String {
        let initial = "{\"health\":" + embed(health) + ",\"history\":" + embed(history) + "}"
        return template.replacing("__INITIAL__", with: initial)
    }

    /// JSON safe inside a `<script>` element.
    static func embed(_ value: some Encodable) -> String {
        String(decoding: JSONBytes.encode(value), as: UTF8.self)
            .replacing("</", with: "<\\/")
            .replacing("<!--", with: "<\\!--")
    }

    static let template = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chorus cluster health</title>
<style>
  :root { --healthy: #2e9d52; --degraded: #d99a00; --unhealthy: #d23c3c; --unknown: #7d8590; --starting: #3b7dd8; --stopping: #3b7dd8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: #0f1419; color: #e6e6e6; }
  header { display: flex; align-items: center; gap: 16px; padding: 16px 24px; border-bottom: 1px solid #262c33; }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  .badge { padding: 4px 12px; border-radius: 12px; font-weight: 600; color: #fff; text-transform: uppercase; font-size: 12px; letter-spacing: .05em; }
  .muted { color: #8b949e; }
  main { padding: 16px 24px; display: grid; gap: 16px; }
  .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
  .card { background: #161b22; border: 1px solid #262c33; border-radius: 8px; padding: 12px 14px; }
  .card h2 { margin: 0 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: #8b949e; font-weight: 600; }
  .card .big { font-size: 22px; font-weight: 600; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
  .node { border-radius: 8px; padding: 10px 12px; color: #fff; min-height: 88px; position: relative; }
  .node .id { font-weight: 600; font-size: 15px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .node .line { font-size: 12px; opacity: .92; }
  .node .leader { position: absolute; top: 8px; right: 10px; font-size: 11px; background: rgba(0,0,0,.35); padding: 1px 6px; border-radius: 8px; }
  .node.stale { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.07) 0 8px, transparent 8px 16px); }
  ul.reasons { margin: 0; padding-left: 18px; }
  .history { display: flex; gap: 2px; align-items: flex-end; height: 36px; }
  .history span { flex: 1 1 0; min-width: 3px; max-width: 14px; height: 100%; border-radius: 2px; }
  .legend span { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; vertical-align: middle; }
  footer { padding: 8px 24px 16px; font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>chorus cluster health</h1>
  <span id="badge" class="badge">…</span>
  <span id="summary" class="muted"></span>
  <span style="flex:1"></span>
  <span id="updated" class="muted"></span>
</header>
<main>
  <section class="figures">
    <div class="card"><h2>Election</h2><div class="big" id="leader">–</div><div class="muted" id="election"></div></div>
    <div class="card"><h2>Peers</h2><div class="big" id="peers">–</div><div class="muted" id="peers-detail"></div></div>
    <div class="card"><h2>Replication</h2><div class="big" id="replication">–</div><div class="muted" id="replication-detail"></div></div>
    <div class="card"><h2>Nodes</h2><div class="big" id="counts">–</div><div class="muted legend">
      <span style="background:var(--healthy)"></span>healthy<span style="background:var(--degraded)"></span>degraded<span style="background:var(--unhealthy)"></span>unhealthy<span style="background:var(--unknown)"></span>unknown</div></div>
  </section>
  <section class="card" id="reasons-card"><h2>Why</h2><ul class="reasons" id="reasons"></ul></section>
  <section><div class="grid" id="grid"></div></section>
  <section class="card"><h2>Recent history</h2><div class="history" id="history"></div><div class="muted" id="history-span"></div></section>
</main>
<footer class="muted">Observed by <span id="observer"></span>. Each tile is a node's latest signed status as verified here; stale statuses count as unknown. JSON: <a href="/cluster/health" style="color:#58a6ff">/cluster/health</a> · <a href="/cluster/health?verbose" style="color:#58a6ff">?verbose</a> · <a href="/metrics" style="color:#58a6ff">/metrics</a></footer>
<script>
const INITIAL = __INITIAL__;
const colour = s => `var(--${["healthy","degraded","unhealthy","starting","stopping"].includes(s) ? s : "unknown"})`;
const text = (id, value) => { document.getElementById(id).textContent = value; };
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
function render(health, history) {
  const badge = document.getElementById("badge");
  badge.textContent = health.status;
  badge.style.background = colour(health.status);
  text("summary", `${health.node_count} nodes`);
  text("observer", health.observer);
  text("updated", "updated " + new Date().toLocaleTimeString());
  const e = health.election;
  text("leader", e.leader ? "★ " + e.leader : "no leader");
  text("election", `term ${e.term ?? "–"} · agreement ${Math.round(e.agreement * 100)} % · ${e.leadership_changes} changes (${e.changes_last_15m ?? 0} in 15 min) · stability ${e.stability}`);
  const p = health.peers;
  text("peers", p.min == null ? "–" : `${p.min} / ${p.average} / ${p.max}`);
  text("peers-detail", `min / avg / max connected · required ${p.required}` + (p.below_minimum.length ? ` · below: ${p.below_minimum.join(", ")}` : ""));
  const r = health.replication;
  text("replication", r.average_factor == null ? "no keys" : `factor ${r.average_factor}`);
  text("replication-detail", `${r.stored_keys} stored · ${r.under_replicated_keys} under-replicated · ${r.provider_records} provider records`);
  const c = health.by_status;
  text("counts", ["healthy","degraded","unhealthy","unknown"].map(s => c[s] || 0).join(" / "));
  const reasons = document.getElementById("reasons");
  reasons.innerHTML = health.reasons.length ? health.reasons.map(x => `<li>${esc(x)}</li>`).join("") : "<li>all nodes healthy, one leader agreed</li>";
  document.getElementById("grid").innerHTML = health.nodes.map(n => `
    <div class="node${n.stale ? " stale" : ""}" style="background:${colour(n.status)}" title="${esc(n.fingerprint)}">
      ${n.node_id === e.leader ? '<span class="leader">★ leader</span>' : ""}
      <div class="id">${esc(n.node_id)}${n.self ? " (here)" : ""}</div>
      <div class="line">${esc(n.status)} · ${esc(n.state)}${n.stale ? " · stale" : ""}</div>
      <div class="line">gen ${n.generation}${n.version != null ? " · v" + n.version : ""}${n.status_age_seconds != null ? " · " + Math.round(n.status_age_seconds) + " s old" : ""}</div>
      <div class="line">${n.connected_peers != null ? n.connected_peers + " peers" : ""}${n.score != null ? " · score " + n.score : ""}</div>
      ${n.failing_checks.length ? `<div class="line">failing: ${esc(n.failing_checks.join(", "))}</div>` : ""}
      ${n.degraded_checks.length ? `<div class="line">degraded: ${esc(n.degraded_checks.join(", "))}</div>` : ""}
      ${!n.failing_checks.length && !n.degraded_checks.length && n.reported_status && n.reported_status !== "healthy" && n.message ? `<div class="line">${esc(n.message)}</div>` : ""}
      ${n.unreachable ? '<div class="line">reported healthy, unreachable from here</div>' : ""}
    </div>`).join("");
  document.getElementById("history").innerHTML = history.map(h =>
    `<span style="background:${colour(h.status)}" title="${esc(h.time)}: ${esc(h.status)} (${h.healthy}/${h.degraded}/${h.unhealthy}/${h.unknown})${h.reason ? " — " + esc(h.reason) : ""}"></span>`).join("");
  text("history-span", history.length ? `${history.length} points since ${history[0].time}` : "");
}
render(INITIAL.health, INITIAL.history);
async function refresh() {
  try {
    const [h, s] = await Promise.all([fetch("/cluster/health"), fetch("/cluster/history")]);
    render(await h.json(), await s.json());
  } catch (error) { text("updated", "cannot reach the node: " + error); }
}
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
