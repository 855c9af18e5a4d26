// Soundtrack Studio's page: one WebSocket to the studio server (JSON control messages and
// binary PCM blocks) held by a network Worker that feeds the AudioWorklet directly, Web Audio
// playback, the graph diagram, the controls, the live timeline, and the Shape form. Everything the page knows is in
// `window.studio` (the browser tests read it from there).

import { AudioOut } from "./audio.js";
import { Diagram } from "./diagram.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);

const S = (window.studio = {
  ready: false, phase: "connecting", model: null, status: null, sampleRate: 48000, bufferMs: 150,
  session: 0, playing: false, paused: false, stopping: false, ended: false,
  audio: { blocks: 0, frames: 0, played: 0, buffered: 0, underruns: 0, underrunFrames: 0, dropped: 0,
           started: false, latencyMs: null, deviceLatencyMs: null, maxGapMs: 0, lastBlockAt: null, context: "none" },
  plans: [], heard: [], markers: 0, regen: [], swaps: [], takes: [], errors: [], notes: [],
  ticks: 0, lastTick: null, state: null, position: "", heardFrame: 0, monitor: null, auditions: 0,
});

let net = null, audio = null, diagram = null, timeline = null;
let nextId = 1;
const waiting = new Map();
let queue = []; // markers received, not yet heard, in frame order
let selected = null;

// -- connection: the WebSocket lives in a Worker (stream-worker.js), PCM never crosses this thread
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  if (!net) {
    net = new Worker("/static/js/stream-worker.js");
    net.onmessage = (e) => fromNet(e.data);
  }
  net.postMessage({ type: "connect", url: `${proto}://${location.host}/ws` });
}

function fromNet(m) {
  if (m.type === "text") handle(JSON.parse(m.data));
  else if (m.type === "env") onEnvelope(m);
  else if (m.type === "audition") onAudition(m);
  else if (m.type === "open") S.connected = true;
  else if (m.type === "closed") {
    S.connected = false;
    S.phase = "disconnected";
    showPhase("disconnected from the studio; reconnecting…", true);
    setTimeout(connect, 1000);
  }
}

function send(op, args = {}) {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    net.postMessage({ type: "send", text: JSON.stringify({ op, id, ...args }) });
  });
}

async function call(op, args = {}) {
  const r = await send(op, args);
  if (!r.ok) note(`${op}: ${r.error}`, true);
  return r;
}

function handle(m) {
  switch (m.type) {
    case "hello":
      S.phase = m.phase;
      S.bufferMs = m.buffer_ms || S.bufferMs;
      showPhase(m.phase === "ready" ? `ready · bank ${m.bank}` : m.message || m.phase, m.phase === "error");
      if (m.model) {
        S.sampleRate = m.sample_rate;
        S.ready = true;
        setModel(m.model, m.status);
      }
      break;
    case "phase":
      S.phase = m.phase;
      showPhase(m.message || progressText(m), m.phase === "error");
      break;
    case "reply": {
      const r = waiting.get(m.id);
      if (r) { waiting.delete(m.id); r(m); }
      break;
    }
    case "session":
      S.session = m.take;
      S.playing = true; S.stopping = false; S.ended = false; S.paused = false;
      S.audio = { ...S.audio, blocks: 0, frames: 0, played: 0, buffered: 0, underruns: 0, underrunFrames: 0, dropped: 0,
                  started: false, maxGapMs: 0, lastBlockAt: null };
      S.heard = []; S.plans = []; S.swaps = []; queue = [];
      audio.reset(m.take);
      timeline.reset();
      $("pause").textContent = "❚❚ Pause";
      transportButtons();
      break;
    case "tick":
      onTick(m);
      break;
    case "plan":
      onPlan(m.plan);
      break;
    case "played":
      break;
    case "stopped":
      S.stopping = true;
      transportButtons();
      break;
    case "end":
      S.ended = true;
      break;
    case "regen":
      onRegen(m);
      break;
    case "swap": {
      S.swaps.push(m);
      const mk = { kind: "swap", frame: m.frame, position: m.position, state: m.state, detail: m };
      timeline.addMarker(mk);
      enqueue([mk]);
      note(`new stems for ${m.changed.join(", ") || "nothing"} took over at ${m.state} ${m.position} (session frame ${m.frame})`);
      break;
    }
    case "note":
      note(m.message);
      break;
    case "error":
      note(m.message, true);
      break;
  }
}

function onEnvelope(m) {
  const a = S.audio;
  a.blocks = m.blocks;
  a.frames = m.received;
  a.maxGapMs = m.maxGapMs;
  a.lastBlockAt = performance.now();
  timeline.addEnvelope(m.frame, m.frames, m.chunk, m.lo, m.hi);
}

function onAudition(m) {
  S.auditions += 1;
  $("audition-stop").disabled = false;
  audio.playBuffer(m.data, m.channels, m.frames).then(() => { $("audition-stop").disabled = true; });
}

// -- the model and the controls -------------------------------------------------------------------
function setModel(model, status) {
  S.model = model;
  S.status = status;
  S.monitor = status ? status.monitor : null;
  $("graph-name").textContent = `${model.name} · ${model.path}`;
  document.title = `Studio · ${model.name}`;
  if (!timeline) timeline = new Timeline($("timeline"), S.sampleRate);
  timeline.setModel(model);
  if (!diagram) diagram = new Diagram($("diagram"), selectState);
  diagram.draw(model);
  const start = $("start-state");
  const was = start.value;
  start.innerHTML = "";
  for (const s of model.states) start.add(new Option(s.name + (s.name === model.start ? " (start)" : ""), s.name));
  start.value = was && model.states.some((s) => s.name === was) ? was : model.start;
  buildEvents(model);
  buildStingers(model);
  buildParams(model);
  buildLayers(model);
  buildShape(model);
  buildAudition(model);
  if (status && status.take) S.takeInfo = status.take;
  transportButtons();
}

function buildEvents(model) {
  const box = $("events");
  box.innerHTML = "";
  for (const ev of model.events) {
    const b = document.createElement("button");
    b.id = `event-${ev}`;
    b.dataset.event = ev;
    b.textContent = ev;
    const rules = model.transitions.filter((t) => t.on === ev).map((t) => `${t.from} → ${t.to} (${t.sync}, fade ${t.fade})`);
    b.title = rules.join("\n");
    b.onclick = () => command("event", { name: ev }, b);
    box.appendChild(b);
  }
  markEvents();
}

function markEvents() {
  if (!S.model) return;
  for (const b of $("events").querySelectorAll("button")) {
    const ok = S.model.transitions.some((t) => t.on === b.dataset.event && (t.from === S.state || (t.from === "*" && t.to !== S.state)));
    b.classList.toggle("idle", !!S.state && !ok);
  }
}

function buildStingers(model) {
  const box = $("stingers");
  box.innerHTML = "";
  for (const st of model.stingers) {
    const b = document.createElement("button");
    b.id = `stinger-${st.name}`;
    b.textContent = st.key ? `${st.key} · ${st.name}` : st.name;
    b.title = `${st.beats} beats, on the next ${st.sync}`;
    b.onclick = () => command("stinger", { name: st.name }, b);
    box.appendChild(b);
  }
}

function buildParams(model) {
  const box = $("params");
  box.innerHTML = "";
  const values = (S.lastTick && S.lastTick.params) || {};
  const rows = model.params.map((p) => ({ ...p, op: "param", step: (p.max - p.min) / 100 }));
  for (const p of rows) {
    const row = document.createElement("div");
    row.className = "param";
    const v = values[p.name] ?? p.default;
    row.innerHTML = `<label for="param-${p.name}">${p.name}</label><input type="range" id="param-${p.name}" min="${p.min}" max="${p.max}" step="${p.step}" value="${v}"><span class="readout" id="param-${p.name}-value">${(+v).toFixed(2)}</span>`;
    box.appendChild(row);
    const input = row.querySelector("input");
    let last = 0, timer = null;
    const fire = () => { last = performance.now(); timer = null; command("param", { name: p.name, value: +input.value }); };
    input.addEventListener("input", () => {
      $(`param-${p.name}-value`).textContent = (+input.value).toFixed(2);
      if (timer) return;
      const wait = Math.max(0, 80 - (performance.now() - last));
      timer = setTimeout(fire, wait);
    });
  }
  const row = document.createElement("div");
  row.className = "param";
  const t = model.tempo;
  row.innerHTML = t
    ? `<label for="param-tempo">tempo</label><input type="range" id="param-tempo" min="${t.min}" max="${t.max}" step="1" value="${t.min}"><span class="readout" id="param-tempo-value">– bpm</span>`
    : `<label for="param-tempo">tempo</label><input type="range" id="param-tempo" min="0" max="1" disabled><span class="readout" title="add tempi = [...] to a state for tempo variants">no takes</span>`;
  box.appendChild(row);
  if (t) {
    const input = row.querySelector("input");
    input.addEventListener("input", () => { $("param-tempo-value").textContent = `${input.value} bpm`; });
    input.addEventListener("change", () => command("tempo", { value: +input.value }));
  }
}

function buildLayers(model) {
  const box = $("layers");
  box.innerHTML = "";
  for (const layer of model.layers) {
    const span = document.createElement("span");
    span.className = "layer";
    span.innerHTML = `<b>${layer}</b><button id="mute-${layer}" title="mute">M</button><button id="solo-${layer}" title="solo">S</button><span class="gain readout" id="gain-${layer}">1.00</span>`;
    box.appendChild(span);
    for (const what of ["mute", "solo"]) {
      const b = span.querySelector(`#${what}-${layer}`);
      b.onclick = async () => {
        const r = await call(what, { layer, on: !b.classList.contains("on") });
        if (r.ok) setMonitor(r.result);
      };
    }
  }
  if (S.monitor) setMonitor(S.monitor);
}

function setMonitor(m) {
  S.monitor = m;
  for (const layer of m.layers) {
    const mb = $(`mute-${layer}`), sb = $(`solo-${layer}`);
    if (mb) mb.classList.toggle("on", m.muted.includes(layer));
    if (sb) sb.classList.toggle("on", m.soloed.includes(layer));
  }
}

function buildShape(model) {
  const sel = $("shape-state");
  sel.innerHTML = "";
  for (const s of model.states) sel.add(new Option(s.name, s.name));
  sel.onchange = () => selectState(sel.value);
  selectState(selected && model.states.some((s) => s.name === selected) ? selected : model.start);
  $("regen").disabled = false;
  $("reload").disabled = false;
}

function selectState(name) {
  selected = name;
  $("shape-state").value = name;
  if (diagram) diagram.select(name);
  const s = S.model.states.find((q) => q.name === name);
  const form = $("shape");
  for (const key of Object.keys(S.model.fields)) {
    const input = form.elements[key];
    if (!input) continue;
    const own = s.form.own[key], eff = s.form.effective[key];
    const show = (v) => (Array.isArray(v) ? v.join(", ") : v ?? "");
    input.value = show(own);
    input.placeholder = own === undefined ? `${show(eff)} (inherited)` : "";
  }
}

function buildAudition(model) {
  const sel = $("audition-stem");
  const was = sel.value;
  sel.innerHTML = "";
  model.stems.forEach((st, i) => {
    const label = `${st.name} ${st.role}${st.role === "main" ? " v" + st.variant : ""}${st.tempo ? " @" + st.tempo : ""} (${st.seconds.toFixed(1)} s)`;
    sel.add(new Option(label, String(i)));
  });
  if (was && +was < model.stems.length) sel.value = was;
  const layers = () => {
    const st = model.stems[+sel.value];
    const ls = $("audition-layer");
    ls.innerHTML = "";
    ls.add(new Option("mix", "mix"));
    if (st) for (const l of st.layers) ls.add(new Option(l, l));
  };
  sel.onchange = layers;
  layers();
  $("audition").disabled = model.stems.length === 0;
}

// -- commands and plans ---------------------------------------------------------------------------
async function command(op, args, button) {
  if (button) { button.classList.add("pressed"); setTimeout(() => button.classList.remove("pressed"), 250); }
  return call(op, args);
}

function onPlan(p) {
  const entry = { ...p, heardAtPost: Math.round(S.heardFrame), receivedAtPost: S.audio.frames, at: performance.now(), heard: false };
  S.plans.push(entry);
  if (S.plans.length > 500) S.plans.shift();
  if (p.type === "Monitor") { setMonitor(p); return; }
  const li = document.createElement("li");
  const sr = S.sampleRate;
  const secs = (f) => `${(f / sr).toFixed(3)} s`;
  let text;
  if (p.type === "TransitionPlan") {
    text = p.accepted
      ? `${p.event}: ${p.source} → ${p.target} at ${p.position} (${p.sync}), frame ${p.edit_frame} = ${secs(p.edit_frame)}, fade ${p.fade_frames} frames (${(p.fade_frames / sr * 1000).toFixed(0)} ms, ${p.curve})`
      : `${p.event}: refused: ${p.reason}`;
    if (p.accepted) diagram.pending(p, sr);
  } else if (p.type === "StingerPlan") {
    text = p.accepted ? `stinger ${p.name} at ${p.position}, frame ${p.frame} = ${secs(p.frame)}` : `stinger ${p.name}: refused: ${p.reason}`;
  } else if (p.type === "ParamChange") {
    const gains = Object.entries(p.gains).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
    text = `${p.name} = ${p.value.toFixed(2)} from ${p.position}, frame ${p.frame}, ramp ${p.ramp_frames} frames → ${gains}`;
  } else if (p.type === "TempoChange") {
    text = p.accepted ? `tempo ${p.bpm} bpm from ${p.position}, frame ${p.frame}` : `tempo ${p.requested}: refused: ${p.reason}`;
  } else {
    text = JSON.stringify(p);
  }
  const ahead = p.edit_frame ?? p.frame;
  if (ahead !== undefined && ahead >= 0 && p.accepted !== false) text += ` · heard in ${((ahead - S.heardFrame) / sr * 1000).toFixed(0)} ms`;
  li.textContent = text;
  li.dataset.frame = ahead ?? "";
  if (p.accepted === false) li.className = "refused";
  entry.li = li;
  const list = $("plans");
  list.prepend(li);
  while (list.children.length > 60) list.lastChild.remove();
}

function onTick(t) {
  S.ticks += 1;
  S.lastTick = t;
  if (t.take) {
    S.takeInfo = t.take;
    const tk = t.take;
    $("take").textContent = `take ${S.session}: ${tk.seconds.toFixed(1)} s${tk.recording ? " ●" : ""}${tk.replayable ? "" : " (not replayable)"}`;
    $("take").title = tk.ended || tk.not_replayable || "recording";
  }
  timeline.addTick(t);
  enqueue(t.markers || []);
  S.markers += (t.markers || []).length;
  for (const [layer, g] of Object.entries(t.gains || {})) {
    const e = $(`gain-${layer}`);
    if (e) e.textContent = g.toFixed(2);
  }
  if (t.grid && $("param-tempo-value") && S.model.tempo) $("param-tempo-value").textContent = `${t.grid.bpm.toFixed(1)} bpm`;
}

function enqueue(markers) {
  if (!markers.length) return;
  const sorted = queue.length && markers[0].frame < queue[queue.length - 1].frame;
  queue.push(...markers);
  if (sorted) queue.sort((a, b) => a.frame - b.frame);
}

function onHeard(m, heard) {
  const rec = { kind: m.kind, frame: m.frame, position: m.position, state: m.state, detail: m.detail, heardFrame: Math.round(heard), at: performance.now() };
  S.heard.push(rec);
  if (S.heard.length > 3000) S.heard.splice(0, 1000);
  if (m.kind === "state") {
    S.state = m.state;
    diagram.highlight(m.state);
    markEvents();
  } else if (m.kind === "bar" || m.kind === "beat") {
    S.position = m.position;
    $("now").textContent = `${S.state || ""} ${m.position}`;
  }
  if (m.kind === "transition") {
    for (const p of S.plans) {
      if (p.type === "TransitionPlan" && p.accepted && p.edit_frame === m.frame && !p.heard) {
        p.heard = true;
        p.heardFrame = rec.heardFrame;
        if (p.li) p.li.classList.add("heard");
      }
    }
    const pending = S.plans.filter((p) => p.type === "TransitionPlan" && p.accepted && !p.heard && p.edit_frame > m.frame);
    diagram.pending(pending.length ? pending[pending.length - 1] : null, S.sampleRate);
  }
  if (m.kind !== "beat" && m.kind !== "bar") {
    const li = document.createElement("li");
    const d = m.detail || {};
    const what = m.kind === "transition" ? `${d.event || "start"}: ${d.from} → ${d.to}` : m.kind === "stinger" ? d.name
      : m.kind === "param" ? `${d.name} = ${(+d.value).toFixed(2)}` : m.kind === "segment" ? `${d.role} ${d.name}${d.variant !== undefined ? " v" + d.variant : ""}`
      : m.kind === "swap" ? `new stems (${(d.changed || []).join(", ")})` : m.kind === "rejected" ? d.reason : (m.state || "");
    li.textContent = `${(m.frame / S.sampleRate).toFixed(3)} s ${m.position || ""} ${m.kind}: ${what}`;
    const list = $("heard");
    list.prepend(li);
    while (list.children.length > 80) list.lastChild.remove();
  }
}

function heardLoop() {
  if (!audio) return;
  const heard = audio.heardFrame();
  S.heardFrame = heard;
  while (queue.length && queue[0].frame <= heard) onHeard(queue.shift(), heard);
}

// -- regeneration ---------------------------------------------------------------------------------
function onRegen(m) {
  S.regen.push(m);
  const box = $("regen-status");
  box.className = "readout";
  if (m.phase === "failed") {
    box.className = "readout bad";
    box.textContent = `regeneration of ${m.state || "the file"} failed: ${m.message}`;
  } else if (m.phase === "built") {
    box.className = "readout ok";
    box.textContent = `${m.state || "file"}: ${m.generated.length} stem(s) generated (${m.generated.join(", ") || "none"}), ${m.reused} reused, in ${m.seconds} s; `
      + (m.changed.length ? `swapping in ${m.when}` : "nothing changed");
  } else {
    box.textContent = progressText(m);
  }
}

function progressText(m) {
  if (m.total) return `${m.message || "building"}: ${m.done}/${m.total} stems${m.stem ? " (" + m.stem + ")" : ""}, ${m.elapsed || 0} s`;
  return m.message || m.phase || "";
}

function shapeChanges() {
  const s = S.model.states.find((q) => q.name === selected);
  const form = $("shape");
  const changes = {};
  for (const key of Object.keys(S.model.fields)) {
    const input = form.elements[key];
    if (!input) continue;
    const own = s.form.own[key];
    const was = Array.isArray(own) ? own.join(", ") : own === undefined ? "" : String(own);
    if (input.value.trim() !== was.trim()) changes[key] = input.value;
  }
  return changes;
}

// -- transport ------------------------------------------------------------------------------------
function transportButtons() {
  const ready = S.ready;
  $("play").disabled = !ready;
  $("pause").disabled = !ready || !S.playing || S.ended;
  $("stop").disabled = !ready || !S.playing || S.stopping;
  $("save-take").disabled = !ready || !S.session;
}

async function ensureAudio() {
  if (!audio) {
    audio = new AudioOut(S.sampleRate, { prefillFrames: Math.round(S.sampleRate * Math.min(0.085, (S.bufferMs * 0.6) / 1000)) });
    await audio.init();
    audio.connectStream(net);
    audio.onClock = (c) => {
      const a = S.audio;
      a.played = c.played; a.buffered = c.buffered; a.underruns = c.underruns; a.underrunFrames = c.underrun_frames;
      a.dropped = c.dropped; a.started = a.started || c.started; a.underrunAt = c.underrun_at;
      a.latencyMs = ((c.buffered / S.sampleRate) + audio.deviceLatency) * 1000;
      a.deviceLatencyMs = audio.deviceLatency * 1000;
      if (c.drained && S.ended) { S.playing = false; transportButtons(); }
    };
    $("volume").dispatchEvent(new Event("input"));
  }
  await audio.resumeContext();
  S.audio.context = audio.ctx.state;
}

function wire() {
  $("play").onclick = async () => {
    await ensureAudio();
    await call("play", { state: $("start-state").value });
  };
  $("pause").onclick = () => {
    if (!audio) return;
    S.paused = !S.paused;
    if (S.paused) audio.pause(); else audio.resume();
    $("pause").textContent = S.paused ? "▶ Resume" : "❚❚ Pause";
  };
  $("stop").onclick = () => call("stop", { fade: 0.5 });
  $("volume").addEventListener("input", () => {
    const db = +$("volume").value;
    $("volume-db").textContent = db <= -60 ? "off" : `${db} dB`;
    if (audio) audio.setVolume(db);
  });
  $("save-take").onclick = async () => {
    const r = await call("save_take");
    if (r.ok) {
      S.takes.push(r.result);
      const t = r.result;
      note(`take saved: ${t.wav} and ${t.script} (${t.seconds} s)${t.replayable ? "; replay: " + t.replay : "; not a bit-exact replay: " + t.not_replayable}`);
    }
  };
  $("shape").onsubmit = async (e) => {
    e.preventDefault();
    const changes = shapeChanges();
    if (!Object.keys(changes).length) { $("regen-status").textContent = "nothing changed in the form"; return; }
    $("regen-status").textContent = `regenerating ${selected}…`;
    await call("regen", { state: selected, changes });
  };
  $("reload").onclick = () => call("reload");
  $("audition").onclick = async () => {
    await ensureAudio();
    const st = S.model.stems[+$("audition-stem").value];
    if (st) await call("audition", { name: st.name, role: st.role, variant: st.variant, tempo: st.tempo, layer: $("audition-layer").value });
  };
  $("audition-stop").onclick = () => audio && audio.stopAudition();
  document.addEventListener("keydown", (e) => {
    if (e.target && ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
    if (!S.model) return;
    const st = S.model.stingers.find((s) => s.key === e.key);
    if (st) command("stinger", { name: st.name }, $(`stinger-${st.name}`));
    else if (e.key === " " && S.playing) { e.preventDefault(); $("pause").click(); }
  });
}

// -- drawing --------------------------------------------------------------------------------------
let lastDraw = 0, lastReadout = 0;
function frame(now) {
  requestAnimationFrame(frame);
  if (now - lastDraw < 33 || !timeline) return;
  lastDraw = now;
  const heard = audio ? audio.heardFrame() : 0;
  timeline.plans = S.plans.filter((p) => p.type === "TransitionPlan" && p.accepted && !p.heard && p.edit_frame > heard);
  timeline.draw(Math.max(0, heard));
  if (now - lastReadout > 250 && audio) {
    lastReadout = now;
    const a = S.audio;
    $("latency").textContent = a.latencyMs === null ? "latency –"
      : `latency ${a.latencyMs.toFixed(0)} ms (buffer ${(a.buffered / S.sampleRate * 1000).toFixed(0)} + device ${a.deviceLatencyMs.toFixed(0)})`;
    $("underruns").textContent = `underruns ${a.underruns}`;
    $("underruns").classList.toggle("bad", a.underruns > 0);
    S.audio.context = audio.ctx.state;
  }
}

function showPhase(text, bad = false) {
  const p = $("phase");
  p.textContent = text;
  p.classList.toggle("error", bad);
  transportButtons();
}

function note(text, bad = false) {
  (bad ? S.errors : S.notes).push(text);
  const f = $("messages");
  f.textContent = text;
  f.classList.toggle("bad", bad);
}

window.addEventListener("error", (e) => note(`page error: ${e.message}`, true));
window.addEventListener("unhandledrejection", (e) => note(`page error: ${e.reason && e.reason.message ? e.reason.message : e.reason}`, true));

wire();
connect();
let lastBeat = performance.now();
S.maxStallMs = 0;
S.stalls = [];
setInterval(() => {
  const now = performance.now();
  const stall = now - lastBeat - 10;
  S.maxStallMs = Math.max(S.maxStallMs, stall);
  if (stall > 40 && S.stalls.length < 50) S.stalls.push({ at: Math.round(now), ms: Math.round(stall), heard: Math.round(S.heardFrame) });
  lastBeat = now;
  heardLoop();
}, 10);
requestAnimationFrame(frame);
