// The Keel web console (docs/console.md): a read-only single-page app over the admin API of the
// node serving it. Plain JavaScript, no build step, nothing loaded from elsewhere.
(function () {
"use strict";

var REFRESH_MS = 2000;
var HISTORY = 90; // samples kept for the charts (3 minutes at 2 s)

// ---- fetching -------------------------------------------------------------------------------

function ApiError(path, message) {
  this.path = path;
  this.message = message;
}
ApiError.prototype.toString = function () { return this.path + ": " + this.message; };

async function getText(path) {
  var resp;
  try {
    resp = await fetch(path, { cache: "no-store" });
  } catch (e) {
    throw new ApiError(path, "the node did not answer (" + e.message + ")");
  }
  var text = await resp.text();
  if (!resp.ok) {
    var message = text;
    try { message = JSON.parse(text).error || text; } catch (e) { /* not JSON */ }
    throw new ApiError(path, resp.status + " " + message);
  }
  return text;
}

async function getJson(path) {
  var text = await getText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(path, "not JSON: " + e.message);
  }
}

// ---- Prometheus text -------------------------------------------------------------------------

// Parses the exposition format into [{name, labels, value}], skipping comments and bad lines.
function parseMetrics(text) {
  var out = [];
  var lines = text.split("\n");
  var sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  var label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (var i = 0; i < lines.length; i++) {
    var line = lines[i];
    if (line === "" || line[0] === "#") continue;
    var m = sample.exec(line);
    if (!m) continue;
    var labels = {};
    if (m[2]) {
      var l;
      label.lastIndex = 0;
      while ((l = label.exec(m[2])) !== null) {
        labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, "\"").replace(/\\\\/g, "\\");
      }
    }
    var v = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels: labels, value: v });
  }
  return out;
}

function series(samples, name, filter) {
  return samples.filter(function (s) {
    if (s.name !== name) return false;
    for (var k in filter || {}) if (s.labels[k] !== filter[k]) return false;
    return true;
  });
}

function sum(samples, name, filter) {
  var list = series(samples, name, filter);
  if (list.length === 0) return null;
  return list.reduce(function (a, s) { return a + s.value; }, 0);
}

// A histogram's buckets (of the series matching `filter`) summed over its other labels: [[le, cumulative count]] by le.
function buckets(samples, name, filter) {
  var by = {};
  series(samples, name + "_bucket", filter).forEach(function (s) {
    var le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    by[le] = (by[le] || 0) + s.value;
  });
  return Object.keys(by).map(Number).sort(function (a, b) { return a - b; }).map(function (le) { return [le, by[le]]; });
}

// The q-quantile of the observations between two snapshots of the same histogram (seconds), or
// null when there were none. Linear within a bucket, as Prometheus' histogram_quantile.
function quantile(q, before, after) {
  var prev = {};
  (before || []).forEach(function (b) { prev[b[0]] = b[1]; });
  var delta = after.map(function (b) { return [b[0], b[1] - (prev[b[0]] || 0)]; });
  if (delta.length === 0) return null;
  var total = delta[delta.length - 1][1];
  if (!(total > 0)) return null;
  var rank = q * total;
  var lowerLe = 0, lowerCount = 0;
  for (var i = 0; i < delta.length; i++) {
    var le = delta[i][0], count = delta[i][1];
    if (count >= rank) {
      if (le === Infinity) return lowerLe;
      if (count === lowerCount) return le;
      return lowerLe + (le - lowerLe) * (rank - lowerCount) / (count - lowerCount);
    }
    lowerLe = le;
    lowerCount = count;
  }
  return lowerLe;
}

// ---- formatting ------------------------------------------------------------------------------

function esc(v) {
  return String(v === null || v === undefined ? "" : v)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1) + " ms";
  return seconds.toFixed(2) + " s";
}

function nodes(list) {
  return (list || []).map(esc).join(", ") || "–";
}

function errorBox(e) {
  return '<div class="error">' + esc(String(e)) + "</div>";
}

function table(headers, rows, empty) {
  if (rows.length === 0) return '<p class="muted">' + esc(empty) + "</p>";
  return "<table><thead><tr>" + headers.map(function (h) {
    var cls = h[0] === "#" ? ' class="num"' : "";
    return "<th" + cls + ">" + esc(h.replace(/^#/, "")) + "</th>";
  }).join("") + "</tr></thead><tbody>" + rows.join("") + "</tbody></table>";
}

// Settles every promise; failures become ApiError values, so one failing source never blanks
// the page.
async function settle(promises) {
  return Promise.all(promises.map(function (p) {
    return p.catch(function (e) { return e instanceof ApiError ? e : new ApiError("page", String(e)); });
  }));
}

function failed(v) {
  return v instanceof ApiError;
}

// ---- metrics sampling (shared by every page) --------------------------------------------------

// Groups whose partitions the groups page asks for (one request each).
var GROUPS_DESCRIBED_MAX = 50;

var samplesKept = []; // [{t, samples}], oldest first
var lastMetricsError = null;

async function sampleMetrics() {
  try {
    var samples = parseMetrics(await getText("/metrics"));
    samplesKept.push({ t: Date.now() / 1000, samples: samples });
    if (samplesKept.length > HISTORY) samplesKept.shift();
    lastMetricsError = null;
  } catch (e) {
    lastMetricsError = e;
  }
}

function latest() {
  return samplesKept.length ? samplesKept[samplesKept.length - 1].samples : null;
}

// ---- pages -----------------------------------------------------------------------------------

var servingNode = null;

async function overview() {
  var r = await settle([getJson("/health"), getJson("/api/cluster")]);
  var health = r[0], cluster = r[1];
  var html = "<h1>Overview</h1>";
  var meta = !failed(cluster) && cluster.meta ? cluster.meta : !failed(health) ? health.meta : null;
  if (failed(health)) html += errorBox(health);
  if (failed(cluster)) html += errorBox(cluster);
  var m = latest() || [];
  html += '<div class="cards">' +
    card("Serving node", failed(health) ? "–" : health.node_id, "serving-node") +
    card("Meta leader", meta && meta.leader !== null && meta.leader !== undefined ? meta.leader : "none", "meta-leader") +
    card("Term", meta ? meta.term : "–", "meta-term") +
    card("Voters", meta ? nodes(meta.voters) : "–", "meta-voters") +
    card("Topics", num(sum(m, "keel_meta_topics")), "topic-count") +
    card("Offline shards", num(sum(m, "keel_shards_offline")), "offline-shards") +
    "</div>";
  if (!meta) html += '<p class="note">This node has no meta role: the leader and term come from the meta nodes\' own consoles.</p>';
  html += "<h2>Nodes</h2>";
  var list = !failed(cluster) && Array.isArray(cluster.nodes) ? cluster.nodes : null;
  if (!failed(cluster) && cluster.nodes && cluster.nodes.error) html += errorBox("/api/cluster nodes: " + cluster.nodes.error);
  if (list) {
    var voters = meta ? meta.voters || [] : [];
    var learners = meta ? meta.learners || [] : [];
    html += table(["#Id", "Address", "Roles", "Live", "Meta", "Kafka"], list.map(function (n) {
      var metaRole = n.id === (meta && meta.leader) ? "leader" : voters.indexOf(n.id) >= 0 ? "voter" : learners.indexOf(n.id) >= 0 ? "learner" : "–";
      return '<tr data-node="' + esc(n.id) + '"><td class="num">' + esc(n.id) + "</td><td>" + esc(n.addr) + "</td><td>" +
        esc((n.roles || []).join(", ")) + "</td><td>" + (n.alive ? '<span class="good">live</span>' : '<span class="bad">down</span>') +
        "</td><td>" + esc(metaRole) + "</td><td>" + esc(n.kafka_addr || "–") + "</td></tr>";
    }), "No node has registered yet.");
  }
  if (meta && meta.members) {
    html += "<h2>Meta members</h2>" + table(["#Id", "Raft address"], Object.keys(meta.members).map(function (id) {
      return '<tr><td class="num">' + esc(id) + "</td><td>" + esc(meta.members[id]) + "</td></tr>";
    }), "No members.");
  }
  return html;
}

function card(label, value, id) {
  return '<div class="card"><div class="label">' + esc(label) + '</div><div class="value" id="' + esc(id) + '">' + esc(value) + "</div></div>";
}

async function topics() {
  var r = await settle([getJson("/api/topics")]);
  var html = "<h1>Topics</h1>";
  if (failed(r[0])) return html + errorBox(r[0]);
  var list = (r[0].topics || []).slice().sort(function (a, b) { return a.name < b.name ? -1 : 1; });
  html += table(["Name", "#Partitions", "#Replication", "Engine", "#Min ISR", "Retention", "Shards"], list.map(function (t) {
    var shards = t.shards || [];
    var offline = shards.filter(function (s) { return s.leader === null || s.leader === undefined; }).length;
    var under = shards.filter(function (s) { return (s.isr || []).length < (s.replicas || []).length; }).length;
    var health = offline ? '<span class="bad">' + offline + " offline</span>" : under ? '<span class="warn">' + under + " under-replicated</span>" : '<span class="good">ok</span>';
    var retention = [t.retention_ms !== null && t.retention_ms !== undefined ? t.retention_ms + " ms" : "", t.retention_bytes !== null && t.retention_bytes !== undefined ? t.retention_bytes + " B" : ""].filter(Boolean).join(", ") || "unlimited";
    return '<tr data-topic="' + esc(t.name) + '"><td><a href="#/topics/' + encodeURIComponent(t.name) + '">' + esc(t.name) + '</a></td><td class="num partitions">' +
      esc(t.partitions) + '</td><td class="num">' + esc(t.replication_factor) + "</td><td>" + esc(t.engine) + '</td><td class="num">' +
      esc(t.min_insync_replicas) + "</td><td>" + esc(retention) + "</td><td>" + health + "</td></tr>";
  }), "No topics yet.");
  return html;
}

async function topic(name) {
  var r = await settle([getJson("/api/topics/" + encodeURIComponent(name))]);
  var html = '<h1><a href="#/topics">Topics</a> / ' + esc(name) + "</h1>";
  if (failed(r[0])) return html + errorBox(r[0]);
  if (r[0].kind === "binding") {
    var b = r[0];
    return html + '<p class="note">A binding: the Kafka view of topic <a href="#/topics/' + encodeURIComponent(b.topic) + '">' + esc(b.topic) +
      "</a> for MQTT filter <code>" + esc(b.filter) + "</code>.</p>";
  }
  var t = r[0];
  var m = latest() || [];
  var here = function (metric, p) {
    var v = sum(m, metric, { topic: name, partition: String(p) });
    return v === null ? "–" : num(v);
  };
  html += '<div class="cards">' + card("Partitions", t.partitions, "topic-partitions") + card("Replication factor", t.replication_factor, "topic-rf") +
    card("Engine", t.engine, "topic-engine") + card("Min ISR", t.min_insync_replicas, "topic-min-isr") + card("Version", t.version, "topic-version") + "</div>";
  html += "<h2>Shards</h2>";
  html += '<p class="muted">High watermark: asked of each shard\'s leader. Log start, log end and replication lag: from this node\'s replicas (node ' +
    esc(servingNode) + '), "–" where it holds none.</p>';
  html += table(["#Partition", "Leader", "Replicas", "ISR", "#Epoch", "#High watermark", "#Log start here", "#Log end here", "#Replication lag here"],
    (t.shards || []).map(function (s) {
      var leader = s.leader === null || s.leader === undefined ? '<span class="bad">offline</span>' : esc(s.leader);
      var isrCls = (s.isr || []).length < (s.replicas || []).length ? ' class="warn"' : "";
      return '<tr data-partition="' + esc(s.partition) + '"><td class="num">' + esc(s.partition) + "</td><td>" + leader + "</td><td>" + nodes(s.replicas) +
        "</td><td" + isrCls + ">" + nodes(s.isr) + '</td><td class="num">' + esc(s.epoch) + '</td><td class="num">' +
        (s.high_watermark === null || s.high_watermark === undefined ? "–" : esc(s.high_watermark)) + '</td><td class="num">' +
        here("keel_shard_log_start_offset", s.partition) + '</td><td class="num">' + here("keel_shard_log_end_offset", s.partition) +
        '</td><td class="num">' + here("keel_shard_replication_lag_records", s.partition) + "</td></tr>";
    }), "No shards.");
  var bindings = Object.keys(t.bindings || {});
  if (bindings.length) {
    html += "<h2>Bindings</h2>" + table(["Kafka topic", "MQTT filter"], bindings.map(function (k) {
      return "<tr><td>" + esc(k) + "</td><td><code>" + esc(t.bindings[k]) + "</code></td></tr>";
    }), "");
  }
  return html;
}

async function mqtt() {
  var r = await settle([getJson("/api/mqtt/sessions")]);
  var html = "<h1>MQTT sessions</h1>";
  var m = latest() || [];
  html += '<div class="cards">' + card("Connections here", num(sum(m, "keel_mqtt_connections")), "mqtt-connections") +
    card("Sessions served here", num(sum(m, "keel_mqtt_sessions")), "mqtt-sessions-here") +
    card("Sessions in the cluster", failed(r[0]) ? "–" : num(r[0].total), "mqtt-sessions-total") + "</div>";
  if (failed(r[0])) return html + errorBox(r[0]);
  var answer = r[0];
  var list = answer.sessions || [];
  if (answer.total > list.length) html += '<p class="note">Showing the first ' + list.length + " of " + answer.total + " sessions (by client id).</p>";
  html += table(["Client id", "Broker", "Expiry", "Subscriptions", "Will"], list.map(function (s) {
    var where = s.owner !== null && s.owner !== undefined ? '<span class="good">node ' + esc(s.owner) + "</span>"
      : '<span class="muted">disconnected' + (s.disconnected_at_ms ? " since " + esc(new Date(s.disconnected_at_ms).toISOString()) : "") + "</span>";
    var expiry = s.expiry_s === 4294967295 ? "never" : s.expiry_s + " s";
    var subs = Object.keys(s.subscriptions || {}).map(function (f) {
      return "<code>" + esc(f) + "</code> (QoS " + esc(s.subscriptions[f]) + ")";
    }).join("<br>") || '<span class="muted">none</span>';
    return '<tr data-client="' + esc(s.client_id) + '"><td>' + esc(s.client_id) + "</td><td>" + where + "</td><td>" + esc(expiry) + "</td><td>" + subs +
      "</td><td>" + (s.has_will ? "yes" : "–") + "</td></tr>";
  }), "No MQTT sessions.");
  return html;
}

async function groups() {
  var html = "<h1>Consumer groups</h1>";
  html += '<p class="note">Every Kafka consumer group of the cluster, as its records in <code>__consumer_offsets</code> say (any node answers for all): its last generation, members and committed offsets, with the lag behind each partition\'s high watermark.</p>';
  var r = await settle([getJson("/api/groups")]);
  if (failed(r[0])) return html + errorBox(r[0]);
  var list = r[0].groups || [];
  var shown = list.slice(0, GROUPS_DESCRIBED_MAX);
  var details = await settle(shown.map(function (g) { return getJson("/api/groups/" + encodeURIComponent(g.group)); }));
  if (list.length > shown.length) html += '<p class="note">Partitions shown for the first ' + shown.length + " of " + list.length + " groups.</p>";
  html += table(["Group", "#Total lag", "Partitions", "State", "#Members"], list.map(function (g, i) {
    var d = details[i];
    var parts = !d ? '<span class="muted">–</span>' : failed(d) ? errorBox(d) : (d.offsets || []).map(function (o) {
      return esc(o.topic) + "/" + esc(o.partition) + ": " + num(o.lag);
    }).join("<br>") || '<span class="muted">none committed</span>';
    return '<tr data-group="' + esc(g.group) + '"><td>' + esc(g.group) + '</td><td class="num">' + num(g.lag) + "</td><td>" + parts +
      "</td><td>" + esc(g.state) + '</td><td class="num">' + num(g.members) + "</td></tr>";
  }), "No consumer group has committed offsets or joined yet.");
  return html;
}

// The charts: rates of counters and a latency quantile, from the samples of /metrics.
var CHARTS = [
  { id: "kafka-requests", title: "Kafka requests / s", rate: "keel_kafka_requests_total" },
  { id: "mqtt-packets", title: "MQTT packets received / s", rate: "keel_mqtt_packets_received_total" },
  { id: "produced-records", title: "Records produced / s (shards led here)", rate: "keel_storage_produced_records_total" },
  // Produce and PUBLISH only: a Fetch or a replica fetch waits for data on purpose.
  { id: "kafka-p99", title: "Kafka Produce latency p99", histogram: "keel_kafka_request_duration_seconds", filter: { api: "Produce" }, q: 0.99 },
  { id: "mqtt-p99", title: "MQTT PUBLISH to PUBACK/PUBREC p99", histogram: "keel_mqtt_request_duration_seconds", filter: { packet: "PUBLISH" }, q: 0.99 },
  { id: "storage-p99", title: "Storage produce latency p99 (led here)", histogram: "keel_storage_request_duration_seconds", filter: { method: "shard.produce" }, q: 0.99 },
];

function points(chart) {
  var out = [];
  for (var i = 1; i < samplesKept.length; i++) {
    var a = samplesKept[i - 1], b = samplesKept[i], dt = b.t - a.t, v = null;
    if (dt <= 0) continue;
    if (chart.rate) {
      var x = sum(a.samples, chart.rate), y = sum(b.samples, chart.rate);
      v = x === null || y === null || y < x ? null : (y - x) / dt;
    } else {
      v = quantile(chart.q, buckets(a.samples, chart.histogram, chart.filter), buckets(b.samples, chart.histogram, chart.filter));
    }
    out.push({ t: b.t, v: v });
  }
  return out;
}

function svgChart(pts, fmt) {
  var w = 360, h = 120, left = 44, bottom = 16;
  var values = pts.map(function (p) { return p.v; }).filter(function (v) { return v !== null; });
  var max = Math.max.apply(null, values.concat([0]));
  if (max <= 0) max = 1;
  var now = Date.now() / 1000, span = REFRESH_MS / 1000 * HISTORY;
  var x = function (t) { return left + (w - left) * Math.max(0, 1 - (now - t) / span); };
  var y = function (v) { return (h - bottom) * (1 - v / max) + 2; };
  var path = "", pen = false;
  pts.forEach(function (p) {
    if (p.v === null) { pen = false; return; }
    path += (pen ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1) + " ";
    pen = true;
  });
  return '<svg viewBox="0 0 ' + w + " " + h + '" preserveAspectRatio="none" role="img">' +
    '<line class="grid" x1="' + left + '" y1="' + y(max) + '" x2="' + w + '" y2="' + y(max) + '"/>' +
    '<line class="grid" x1="' + left + '" y1="' + y(0) + '" x2="' + w + '" y2="' + y(0) + '"/>' +
    '<text x="2" y="' + (y(max) + 8) + '">' + esc(fmt(max)) + "</text>" +
    '<text x="2" y="' + y(0) + '">0</text>' +
    '<text x="' + left + '" y="' + (h - 2) + '">−' + span + ' s</text><text x="' + (w - 24) + '" y="' + (h - 2) + '">now</text>' +
    (path ? '<path class="series" d="' + path + '"/>' : "") + "</svg>";
}

async function charts() {
  var html = "<h1>Throughput and latency</h1>";
  html += '<p class="muted">This node\'s counters (node ' + esc(servingNode) + "), sampled from <code>/metrics</code> every " + REFRESH_MS / 1000 +
    " s while the console is open; latency quantiles from the histogram buckets between samples.</p>";
  if (lastMetricsError) html += errorBox(lastMetricsError);
  html += '<div class="charts">' + CHARTS.map(function (c) {
    var pts = points(c);
    var fmt = c.rate ? function (v) { return num(v); } : duration;
    var last = pts.length ? pts[pts.length - 1].v : null;
    var current = pts.length === 0 ? "collecting…" : last === null ? (c.rate ? "–" : "no requests") : fmt(last);
    var max = Math.max.apply(null, pts.map(function (p) { return p.v || 0; }).concat([0]));
    return '<div class="chart" id="chart-' + c.id + '" data-max="' + max + '"><h3>' + esc(c.title) + '</h3><div class="now">' + esc(current) + "</div>" + svgChart(pts, fmt) + "</div>";
  }).join("") + "</div>";
  return html;
}

// ---- routing ---------------------------------------------------------------------------------

function currentRoute() {
  var hash = location.hash.replace(/^#\/?/, "");
  var parts = hash.split("/").filter(function (p) { return p !== ""; });
  if (parts.length === 0 || parts[0] === "overview") return { name: "overview", render: overview };
  if (parts[0] === "topics" && parts.length > 1) {
    var name;
    try { name = decodeURIComponent(parts.slice(1).join("/")); } catch (e) { name = parts.slice(1).join("/"); }
    return { name: "topic", nav: "topics", render: function () { return topic(name); } };
  }
  var pages = { topics: topics, mqtt: mqtt, groups: groups, charts: charts };
  if (pages[parts[0]]) return { name: parts[0], render: pages[parts[0]] };
  return { name: "unknown", nav: "", render: async function () { return "<h1>Not found</h1><p>No page <code>" + esc(hash) + '</code>. <a href="#/">Overview</a></p>'; } };
}

var generation = 0;

async function refresh() {
  var mine = ++generation;
  var route = currentRoute();
  var main = document.getElementById("main");
  document.querySelectorAll("#nav a").forEach(function (a) {
    a.classList.toggle("active", a.getAttribute("data-route") === (route.nav !== undefined ? route.nav : route.name));
  });
  var html;
  try {
    html = await route.render();
  } catch (e) {
    html = "<h1>Error</h1>" + errorBox(e);
  }
  if (mine !== generation) return; // the route changed meanwhile
  main.innerHTML = html;
  main.setAttribute("data-page", route.name);
  main.setAttribute("data-rendered", String(Date.now()));
  var banner = document.getElementById("errors");
  banner.textContent = window.keelErrors.length ? "Page errors:\n" + window.keelErrors.slice(-5).join("\n") : "";
}

async function tick() {
  if (servingNode === null) await learnServingNode();
  await sampleMetrics();
  await refresh();
  setTimeout(tick, REFRESH_MS);
}

async function learnServingNode() {
  try {
    var h = await getJson("/health");
    servingNode = h.node_id;
    document.getElementById("serving").textContent = "served by node " + h.node_id;
  } catch (e) {
    document.getElementById("serving").textContent = "node unreachable: " + e;
  }
}

function start() {
  window.addEventListener("hashchange", function () { refresh(); });
  tick();
}

start();
})();
