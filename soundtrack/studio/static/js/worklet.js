// The studio's AudioWorklet: a jitter buffer of interleaved float32 PCM blocks pushed from the
// page (which gets them over the WebSocket), played out 128 frames at a time.
//
// - It starts playing once `prefill` frames are buffered; when it runs dry while the stream is
//   still on (not ended, not paused) that is an underrun: counted, the missing frames are
//   silence, and it waits for `prefill` frames again.
// - pause/resume are the monitor's: a 10 ms fade, then it holds its position (nothing is
//   dropped, the session's music clock does not move while nothing is played).
// - PCM arrives from the page's network Worker over a MessagePort (never through the page's
//   main thread). About every 1024 frames it reports `played` (session frames output so far),
//   `buffered` and the underrun counts to the page and to the Worker, which sends them to the
//   server; the server keeps the buffer full.

const FADE_FRAMES = 480; // 10 ms at 48 kHz

class StreamProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.capacity = o.capacity || 1 << 17;
    this.prefill = o.prefill || 4096;
    this.channels = 2;
    this.buf = new Float32Array(this.capacity * 2);
    this.reset(0);
    this.net = null; // the network Worker's port: PCM in, clock reports out
    this.port.onmessage = (e) => {
      if (e.data.type === "port") {
        this.net = e.data.port;
        this.net.onmessage = (ev) => this.onMessage(ev.data);
      } else this.onMessage(e.data);
    };
  }

  reset(session) {
    this.session = session;
    this.read = 0; // absolute frame counters (session frames)
    this.write = 0;
    this.started = false;
    this.ended = false;
    this.paused = false;
    this.gain = 1;
    this.target = 1;
    this.underruns = 0;
    this.underrunFrames = 0;
    this.dropped = 0;
    this.quanta = 0;
    this.underrunAt = []; // session frames where the buffer ran dry (the first 16)
    this.dry = false;
  }

  onMessage(m) {
    if (m.type === "pcm") {
      if (m.session !== this.session) return;
      const frames = m.frames;
      if (m.frame !== this.write || this.write + frames - this.read > this.capacity) {
        this.dropped += frames; // out of order or overfull: never happens with the server's flow control
        return;
      }
      const src = m.data;
      const cap = this.capacity;
      let w = this.write % cap;
      const first = Math.min(frames, cap - w);
      this.buf.set(src.subarray(0, first * 2), w * 2);
      if (first < frames) this.buf.set(src.subarray(first * 2, frames * 2), 0);
      this.write += frames;
    } else if (m.type === "reset") {
      this.reset(m.session);
      if (m.prefill) this.prefill = m.prefill;
    } else if (m.type === "end") {
      this.ended = true;
    } else if (m.type === "pause") {
      this.target = 0;
      this.paused = true;
    } else if (m.type === "resume") {
      this.target = 1;
      this.paused = false;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const L = out[0];
    const R = out.length > 1 ? out[1] : out[0];
    const n = L.length;
    let avail = this.write - this.read;
    if (!this.started) {
      if (avail >= this.prefill || (this.ended && avail > 0)) {
        this.started = true;
        this.dry = false;
      }
    }
    let done = 0;
    if (this.started && !(this.paused && this.gain === 0)) {
      const k = Math.min(n, avail);
      const cap = this.capacity;
      const step = 1 / FADE_FRAMES;
      let r = this.read % cap;
      for (let i = 0; i < k; i++) {
        if (this.gain !== this.target) {
          this.gain = this.target > this.gain ? Math.min(this.target, this.gain + step) : Math.max(this.target, this.gain - step);
          if (this.paused && this.gain === 0) { // the fade is over: hold here
            for (let j = i; j < n; j++) { L[j] = 0; R[j] = 0; }
            done = i;
            break;
          }
        }
        L[i] = this.buf[r * 2] * this.gain;
        R[i] = this.buf[r * 2 + 1] * this.gain;
        if (++r === cap) r = 0;
        done = i + 1;
      }
      this.read += done;
      if (done < n && !(this.paused && this.gain === 0)) {
        for (let j = done; j < n; j++) { L[j] = 0; R[j] = 0; }
        if (!this.ended) {
          if (!this.dry) {
            this.underruns += 1;
            if (this.underrunAt.length < 16) this.underrunAt.push(this.read);
          }
          this.underrunFrames += n - done;
          this.dry = true;
          this.started = false; // wait for the prefill again rather than stutter
        }
      }
    } else {
      for (let j = 0; j < n; j++) { L[j] = 0; R[j] = 0; }
    }
    if (++this.quanta % 8 === 0 || (this.ended && this.read === this.write)) {
      const report = {
        type: "clock", session: this.session, played: this.read, buffered: this.write - this.read,
        underruns: this.underruns, underrun_frames: this.underrunFrames, underrun_at: this.underrunAt, dropped: this.dropped,
        started: this.started, paused: this.paused, time: currentTime, drained: this.ended && this.read === this.write,
      };
      this.port.postMessage(report); // the page: its heard clock and readouts
      if (this.net) this.net.postMessage(report); // the network Worker: on to the server
    }
    return true;
  }
}

registerProcessor("soundtrack-stream", StreamProcessor);
