// The live timeline: the last ~30 s and the next edit points, drawn in a canvas as the audio
// plays (the picture `soundtrack render --plot` makes, but live): the states as bands, the
// waveform, the bar grid (bars heard, and the bars ahead on the grid now playing), transitions,
// stingers, parameter changes, refusals, stem swaps, the pending plans' edit points, and each
// layer's gain below. x is session frames; the bold line is what is heard now.

const PAST_S = 30, AHEAD_S = 8, CHUNK = 512, RING = 1 << 13;
const STATE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"];
const LAYER_COLOURS = ["#e15759", "#4e79a7", "#59a14f", "#b07aa1", "#f28e2b", "#76b7b2", "#9c755f", "#edc948"];

export class Timeline {
  constructor(canvas, sampleRate) {
    this.canvas = canvas;
    this.sr = sampleRate;
    this.reset();
    this.stateColour = new Map();
    this.layerColour = new Map();
    this.draws = 0;
  }

  reset() {
    this.envFrame = new Float64Array(RING);
    this.envMin = new Float32Array(RING);
    this.envMax = new Float32Array(RING);
    this.envCount = 0;
    this.markers = [];
    this.gains = [];
    this.received = 0;
    this.grid = null;
    this.plans = [];
  }

  setModel(model) {
    model.states.forEach((s, i) => this.stateColour.set(s.name, STATE_COLOURS[i % STATE_COLOURS.length]));
    model.layers.forEach((l, i) => this.layerColour.set(l, LAYER_COLOURS[i % LAYER_COLOURS.length]));
  }

  /** A block's waveform envelope (min/max of the mono mix per `chunk` frames, made by the network Worker). */
  addEnvelope(frame, frames, chunk, lo, hi) {
    for (let j = 0; j < lo.length; j++) {
      const k = this.envCount++ % RING;
      this.envFrame[k] = frame + j * chunk;
      this.envMin[k] = lo[j];
      this.envMax[k] = hi[j];
    }
    this.received = frame + frames;
  }

  addTick(tick) {
    if (tick.gains) this.gains.push({ frame: tick.frame, gains: tick.gains });
    if (tick.grid) this.grid = tick.grid;
    for (const m of tick.markers || []) if (m.kind !== "beat") this.markers.push(m);
    const keep = this.received - (PAST_S + 10) * this.sr;
    if (this.gains.length > 4000) this.gains = this.gains.filter((g) => g.frame >= keep);
    if (this.markers.length > 4000) this.markers = this.markers.filter((m) => m.frame >= keep);
  }

  addMarker(m) { this.markers.push(m); }

  draw(heard) {
    const cv = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.max(300, cv.clientWidth), ch = Math.max(160, cv.clientHeight);
    if (cv.width !== Math.round(cw * dpr) || cv.height !== Math.round(ch * dpr)) {
      cv.width = Math.round(cw * dpr);
      cv.height = Math.round(ch * dpr);
    }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const sr = this.sr;
    const t0 = heard - PAST_S * sr, t1 = heard + AHEAD_S * sr;
    const X = (f) => ((f - t0) / (t1 - t0)) * cw;
    const bandH = 18, waveTop = bandH + 4, waveH = Math.round((ch - bandH) * 0.6), gainTop = waveTop + waveH + 6, gainH = ch - gainTop - 14;
    g.clearRect(0, 0, cw, ch);
    g.fillStyle = "#fbfbfd";
    g.fillRect(0, 0, cw, ch);
    // buffered (received, not yet heard) and ahead
    g.fillStyle = "rgba(80,120,200,0.07)";
    g.fillRect(X(heard), 0, X(this.received) - X(heard), ch);
    g.fillStyle = "rgba(0,0,0,0.035)";
    g.fillRect(X(this.received), 0, cw - X(this.received), ch);
    // states
    const states = this.markers.filter((m) => m.kind === "state");
    for (let i = 0; i < states.length; i++) {
      const a = states[i].frame, b = i + 1 < states.length ? states[i + 1].frame : t1;
      if (b < t0) continue;
      const col = this.stateColour.get(states[i].state) || "#999";
      g.fillStyle = col;
      g.globalAlpha = 0.18;
      g.fillRect(X(a), waveTop, X(b) - X(a), waveH);
      g.globalAlpha = 0.85;
      g.fillRect(X(a), 0, X(b) - X(a), bandH);
      g.globalAlpha = 1;
      g.fillStyle = "#fff";
      g.font = "bold 11px sans-serif";
      g.fillText(states[i].state, Math.max(2, X(a) + 4), 13);
    }
    // bar grid: bars heard or received, then the bars ahead on the grid now playing
    g.strokeStyle = "rgba(0,0,0,0.13)";
    g.lineWidth = 1;
    g.beginPath();
    let lastBar = -Infinity;
    for (const m of this.markers) {
      if (m.kind !== "bar" || m.frame < t0) continue;
      g.moveTo(X(m.frame) + 0.5, waveTop);
      g.lineTo(X(m.frame) + 0.5, gainTop + gainH);
      lastBar = Math.max(lastBar, m.frame);
    }
    g.stroke();
    if (this.grid && this.grid.next_bar != null) {
      const bar = this.grid.beat_frames * this.grid.beats_per_bar;
      g.strokeStyle = "rgba(0,0,0,0.09)";
      g.setLineDash([3, 3]);
      g.beginPath();
      for (let f = this.grid.next_bar; f < t1 && bar > 0; f += bar) {
        if (f <= lastBar + 1) continue;
        g.moveTo(X(f) + 0.5, waveTop);
        g.lineTo(X(f) + 0.5, gainTop + gainH);
      }
      g.stroke();
      g.setLineDash([]);
    }
    // waveform
    const mid = waveTop + waveH / 2;
    g.fillStyle = "#222";
    const n = Math.min(this.envCount, RING);
    for (let j = 0; j < n; j++) {
      const k = (this.envCount - n + j) % RING;
      const f = this.envFrame[k];
      if (f < t0 || f > t1) continue;
      const x = X(f), w = Math.max(1, X(f + CHUNK) - x);
      const y0 = mid - this.envMax[k] * (waveH / 2), y1 = mid - this.envMin[k] * (waveH / 2);
      g.fillRect(x, y0, w, Math.max(1, y1 - y0));
    }
    // events
    g.font = "10px sans-serif";
    for (const m of this.markers) {
      if (m.frame < t0 || m.frame > t1) continue;
      const x = X(m.frame);
      if (m.kind === "transition") {
        g.strokeStyle = "#d22"; g.lineWidth = 2;
        line(g, x, waveTop, gainTop + gainH);
        g.fillStyle = "#d22";
        g.fillText(`${m.detail.event || "start"} ${m.position} (${m.detail.sync})`, x + 3, waveTop + 11);
      } else if (m.kind === "stinger") {
        g.strokeStyle = "#e08a00"; g.lineWidth = 1.5; g.setLineDash([4, 3]);
        line(g, x, waveTop, waveTop + waveH); g.setLineDash([]);
        g.fillStyle = "#b86e00"; g.fillText(m.detail.name, x + 3, waveTop + 24);
      } else if (m.kind === "param") {
        g.fillStyle = "#3a6ab0";
        g.beginPath(); g.moveTo(x, gainTop); g.lineTo(x - 4, gainTop - 6); g.lineTo(x + 4, gainTop - 6); g.fill();
      } else if (m.kind === "rejected") {
        g.strokeStyle = "#8a2be2"; g.lineWidth = 2;
        g.beginPath(); g.moveTo(x - 4, mid - 4); g.lineTo(x + 4, mid + 4); g.moveTo(x + 4, mid - 4); g.lineTo(x - 4, mid + 4); g.stroke();
      } else if (m.kind === "swap") {
        g.strokeStyle = "#1a9a4a"; g.lineWidth = 2;
        line(g, x, 0, gainTop + gainH);
        g.fillStyle = "#1a9a4a"; g.fillText(`new stems: ${(m.detail.changed || []).join(", ")}`, x + 3, waveTop + waveH - 4);
      }
    }
    // plans ahead: the edit points not yet reached
    for (const p of this.plans) {
      if (p.edit_frame < t0 || p.edit_frame > t1) continue;
      const x = X(p.edit_frame);
      g.strokeStyle = "#d22"; g.lineWidth = 2; g.setLineDash([6, 4]);
      line(g, x, 0, gainTop + gainH); g.setLineDash([]);
      g.fillStyle = "#d22";
      g.fillText(`→ ${p.target} at ${p.position}`, Math.min(x + 3, cw - 110), waveTop + 36);
    }
    // layer gains
    g.strokeStyle = "rgba(0,0,0,0.15)"; g.lineWidth = 1;
    g.strokeRect(0.5, gainTop + 0.5, cw - 1, gainH);
    for (const [layer, col] of this.layerColour) {
      g.strokeStyle = col; g.lineWidth = 1.5;
      g.beginPath();
      let started = false;
      for (const s of this.gains) {
        if (s.frame < t0 - sr || !(layer in s.gains)) continue;
        const x = X(s.frame), y = gainTop + gainH - s.gains[layer] * (gainH - 3) - 1;
        if (!started) { g.moveTo(x, y); started = true; } else g.lineTo(x, y);
      }
      g.stroke();
    }
    let lx = 6;
    g.font = "10px sans-serif";
    for (const [layer, col] of this.layerColour) {
      g.fillStyle = col; g.fillText(layer, lx, gainTop + 11); lx += g.measureText(layer).width + 10;
    }
    // now, and a seconds axis
    g.strokeStyle = "#000"; g.lineWidth = 2;
    line(g, X(heard), 0, ch);
    g.fillStyle = "#555"; g.font = "10px sans-serif";
    const s0 = Math.ceil(t0 / sr / 5) * 5;
    for (let s = Math.max(0, s0); s * sr <= t1; s += 5) g.fillText(`${s}s`, X(s * sr) + 2, ch - 3);
    this.draws += 1;
  }
}

function line(g, x, y0, y1) {
  g.beginPath(); g.moveTo(x, y0); g.lineTo(x, y1); g.stroke();
}
