// The graph as an SVG diagram: states (the one heard highlighted), transitions with their
// event, sync and fade, the pending transition dashed with its edit point, and "any state"
// for transitions from "*". Clicking a state selects it (the Shape form follows).

const NS = "http://www.w3.org/2000/svg";
const W = 1000, NODE_W = 150, NODE_H = 58;
let H = 430;

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

export class Diagram {
  constructor(svg, onSelect) {
    this.svg = svg;
    this.onSelect = onSelect;
    this.nodes = new Map();
    this.edges = [];
    this.current = null;
    this.selected = null;
  }

  draw(model) {
    const svg = this.svg;
    svg.innerHTML = "";
    const rows = Math.max(1, ...Object.values(model.states.reduce((n, s) => ({ ...n, [s.x]: (n[s.x] || 0) + 1 }), {})));
    H = Math.max(230, 60 + rows * 105);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const defs = el("defs", {}, svg);
    for (const [id, colour] of [["arrow", "#667"], ["arrow-hot", "#d33"]]) {
      const m = el("marker", { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
      el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }, m);
    }
    const pos = new Map();
    for (const s of model.states) pos.set(s.name, [90 + s.x * (W - 260), 40 + s.y * (H - 60)]);
    const wild = model.transitions.some((t) => t.from === "*");
    if (wild) pos.set("*", [W - 80, 34]);
    this.nodes.clear();
    this.edges = [];
    const edgeLayer = el("g", { class: "edges" }, svg);
    const nodeLayer = el("g", { class: "nodes" }, svg);
    const pairs = new Map();
    for (const t of model.transitions) {
      const key = [t.from, t.to].sort().join("|");
      const i = pairs.get(key) || 0;
      pairs.set(key, i + 1);
      const [x1, y1] = pos.get(t.from);
      const [x2, y2] = pos.get(t.to);
      // bend each edge of a pair of states to its own side (the normal of the pair, not of the edge)
      const [pa, pb] = t.from < t.to ? [[x1, y1], [x2, y2]] : [[x2, y2], [x1, y1]];
      const dx = pb[0] - pa[0], dy = pb[1] - pa[1], len = Math.hypot(dx, dy) || 1;
      const side = (t.from < t.to ? 1 : -1) * (1 + i * 0.8);
      const bend = 46 * side;
      const nx = -dy / len, ny = dx / len;
      const cx = (x1 + x2) / 2 + nx * bend, cy = (y1 + y2) / 2 + ny * bend;
      const [sx, sy] = clip(x1, y1, cx, cy, t.from === "*");
      const [ex, ey] = clip(x2, y2, cx, cy, false);
      const g = el("g", { class: "edge", "data-index": t.index, "data-from": t.from, "data-to": t.to, "data-on": t.on || "" }, edgeLayer);
      el("path", { d: `M ${sx} ${sy} Q ${cx} ${cy} ${ex} ${ey}`, "marker-end": "url(#arrow)" }, g);
      const lx = (sx + 2 * cx + ex) / 4, ly = (sy + 2 * cy + ey) / 4;
      const label = el("text", { x: lx, y: ly, class: "edge-label", "text-anchor": "middle" }, g);
      label.textContent = `${t.on || "(direct)"} · ${t.sync} · ${t.fade}`;
      const plan = el("text", { x: lx, y: ly + 13, class: "edge-plan", "text-anchor": "middle" }, g);
      this.edges.push({ t, g, plan });
    }
    const all = [...model.states.map((s) => s.name), ...(wild ? ["*"] : [])];
    for (const name of all) {
      const [x, y] = pos.get(name);
      const s = model.states.find((q) => q.name === name);
      const g = el("g", { class: "node" + (name === "*" ? " any" : ""), "data-state": name, transform: `translate(${x - NODE_W / 2},${y - NODE_H / 2})` }, nodeLayer);
      el("rect", { width: NODE_W, height: NODE_H, rx: 10 }, g);
      const title = el("text", { x: NODE_W / 2, y: 22, "text-anchor": "middle", class: "node-title" }, g);
      title.textContent = name === "*" ? "any state (*)" : name + (name === model.start ? " ▸" : "");
      if (s) {
        const sub = el("text", { x: NODE_W / 2, y: 40, "text-anchor": "middle", class: "node-sub" }, g);
        const bpm = s.plays && s.plays.bpm ? `${+s.plays.bpm.toFixed(2)} bpm` : "";
        sub.textContent = `${bpm} · ${s.main} bar${s.main === 1 ? "" : "s"}${s.variants > 1 ? " ×" + s.variants : ""}`;
        const lay = el("text", { x: NODE_W / 2, y: 53, "text-anchor": "middle", class: "node-layers" }, g);
        lay.textContent = s.layers.join(" ");
        g.addEventListener("click", () => this.onSelect && this.onSelect(name));
      }
      this.nodes.set(name, g);
    }
    this.highlight(this.current);
    this.select(this.selected);
  }

  highlight(state) {
    this.current = state;
    for (const [name, g] of this.nodes) g.classList.toggle("current", name === state);
  }

  select(state) {
    this.selected = state;
    for (const [name, g] of this.nodes) g.classList.toggle("selected", name === state);
  }

  /** Show `plan` (an accepted TransitionPlan, session frames) on its edge; null clears. */
  pending(plan, sampleRate) {
    for (const e of this.edges) {
      const hot = !!plan && e.t.index === plan.rule;
      e.g.classList.toggle("pending", hot);
      e.g.querySelector("path").setAttribute("marker-end", hot ? "url(#arrow-hot)" : "url(#arrow)");
      e.plan.textContent = hot ? `edit at ${plan.position} · ${(plan.edit_frame / sampleRate).toFixed(2)} s · frame ${plan.edit_frame}` : "";
    }
  }
}

// Where the line from a node's centre toward (cx, cy) leaves its box.
function clip(x, y, cx, cy, small) {
  const hw = (small ? 70 : NODE_W) / 2 + 2, hh = NODE_H / 2 + 2;
  const dx = cx - x, dy = cy - y;
  if (!dx && !dy) return [x, y];
  const s = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
  return [x + dx * s, y + dy * s];
}
