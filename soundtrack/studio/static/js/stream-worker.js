// The studio's network thread: a dedicated Worker that owns the WebSocket, so that what the
// page's main thread does (layout, drawing, a screenshot, garbage collection) never delays the
// audio. PCM blocks go from here straight to the AudioWorklet over a MessageChannel; the
// worklet's clock reports come back the same way and are sent on to the server (its flow
// control). JSON messages are handed to the main thread as text, and for each PCM block a
// small waveform envelope (min/max per 512 frames) for the timeline.

const HEADER_BYTES = 24, KIND_PCM = 1, KIND_AUDITION = 2, CHUNK = 512;
let ws = null, pcm = null, session = 0;
let blocks = 0, frames = 0, lastAt = null, maxGapMs = 0;

self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "connect") connect(m.url);
  else if (m.type === "port") {
    pcm = m.port;
    pcm.onmessage = (ev) => {
      const c = ev.data;
      if (c.type === "clock" && ws && ws.readyState === 1) {
        ws.send(JSON.stringify({ op: "clock", session: c.session, played: c.played, buffered: c.buffered, underruns: c.underruns,
                                 underrun_frames: c.underrun_frames }));
      }
    };
  } else if (m.type === "send" && ws && ws.readyState === 1) ws.send(m.text);
};

function connect(url) {
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => self.postMessage({ type: "open" });
  ws.onclose = () => self.postMessage({ type: "closed" });
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      const d = e.data;
      if (d.startsWith('{"type":"session"')) { // before the session's first block, in order
        session = JSON.parse(d).take;
        blocks = 0; frames = 0; lastAt = null; maxGapMs = 0;
        if (pcm) pcm.postMessage({ type: "reset", session });
      } else if (d.startsWith('{"type":"end"')) {
        if (pcm) pcm.postMessage({ type: "end" });
      }
      self.postMessage({ type: "text", data: d });
      return;
    }
    const buf = e.data, v = new DataView(buf);
    const kind = v.getUint32(0, true), channels = v.getUint32(4, true), n = v.getUint32(8, true), start = v.getFloat64(16, true);
    const data = new Float32Array(buf, HEADER_BYTES, n * channels);
    if (kind === KIND_AUDITION) {
      self.postMessage({ type: "audition", channels, frames: n, data }, [buf]);
      return;
    }
    if (kind !== KIND_PCM) return;
    const now = performance.now();
    if (lastAt !== null) maxGapMs = Math.max(maxGapMs, now - lastAt);
    lastAt = now;
    blocks += 1;
    frames += n;
    const k = Math.ceil(n / CHUNK), lo = new Float32Array(k), hi = new Float32Array(k);
    for (let j = 0; j < k; j++) {
      let a = 0, b = 0;
      for (let i = j * CHUNK; i < Math.min(n, (j + 1) * CHUNK); i++) {
        let x = 0;
        for (let c = 0; c < channels; c++) x += data[i * channels + c];
        x /= channels;
        if (x < a) a = x;
        if (x > b) b = x;
      }
      lo[j] = a; hi[j] = b;
    }
    if (pcm) pcm.postMessage({ type: "pcm", session, frame: start, frames: n, data }, [buf]);
    self.postMessage({ type: "env", frame: start, frames: n, chunk: CHUNK, lo, hi, blocks, received: frames, maxGapMs }, [lo.buffer, hi.buffer]);
  };
}
