// Web Audio for the studio: the stream worklet, the monitor and master gains, auditions, and
// the "heard" clock (which session frame is leaving the speakers now).

export class AudioOut {
  constructor(sampleRate, { prefillFrames = 4096 } = {}) {
    this.sampleRate = sampleRate;
    this.prefill = prefillFrames;
    this.session = 0;
    this.last = { played: 0, buffered: 0, underruns: 0, underrun_frames: 0, time: 0, started: false, paused: false };
    this.onClock = null;
    this.audition = null;
  }

  async init() {
    this.ctx = new AudioContext({ sampleRate: this.sampleRate, latencyHint: "interactive" });
    await this.ctx.audioWorklet.addModule("/static/js/worklet.js");
    this.node = new AudioWorkletNode(this.ctx, "soundtrack-stream", {
      numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
      processorOptions: { capacity: 1 << 17, prefill: this.prefill },
    });
    this.monitor = this.ctx.createGain(); // ducked while an audition plays
    this.master = this.ctx.createGain(); // the studio's monitor volume (never above 0 dB)
    this.node.connect(this.monitor).connect(this.master).connect(this.ctx.destination);
    this.node.port.onmessage = (e) => {
      if (e.data.type === "clock") {
        this.last = e.data;
        if (this.onClock) this.onClock(e.data);
      }
    };
  }

  async resumeContext() {
    if (this.ctx.state !== "running") await this.ctx.resume();
  }

  /** A new session: forget the last one's clock (the Worker resets the worklet itself, in order with the PCM). */
  reset(session) {
    this.session = session;
    this.last = { played: 0, buffered: 0, underruns: 0, underrun_frames: 0, time: this.ctx.currentTime, started: false, paused: false };
  }

  /** Let the network Worker feed the worklet directly (a MessageChannel between them). */
  connectStream(worker) {
    const ch = new MessageChannel();
    this.node.port.postMessage({ type: "port", port: ch.port1 }, [ch.port1]);
    worker.postMessage({ type: "port", port: ch.port2 }, [ch.port2]);
  }

  pause() { this.node.port.postMessage({ type: "pause" }); }
  resume() { this.node.port.postMessage({ type: "resume" }); }

  setVolume(db) {
    const g = db <= -60 ? 0 : Math.pow(10, Math.min(0, db) / 20);
    this.master.gain.setTargetAtTime(g, this.ctx.currentTime, 0.015);
  }

  /** Seconds from a frame leaving the worklet to the speaker. */
  get deviceLatency() {
    return (this.ctx.outputLatency || 0) + (this.ctx.baseLatency || 0);
  }

  /** The session frame being heard now (interpolated between the worklet's reports). */
  heardFrame() {
    const c = this.last;
    let f = c.played;
    if (c.started && !c.paused && this.ctx.state === "running") {
      f += Math.min(c.buffered, Math.max(0, (this.ctx.currentTime - c.time) * this.sampleRate));
    }
    return f - this.deviceLatency * this.sampleRate;
  }

  /** Play float32 interleaved PCM (an audition) over the master, the session ducked meanwhile. */
  playBuffer(data, channels, frames) {
    this.stopAudition();
    const buf = this.ctx.createBuffer(channels, frames, this.sampleRate);
    for (let c = 0; c < channels; c++) {
      const ch = buf.getChannelData(c);
      for (let i = 0; i < frames; i++) ch[i] = data[i * channels + c];
    }
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    const g = this.ctx.createGain();
    const t = this.ctx.currentTime;
    g.gain.setValueAtTime(0, t);
    g.gain.linearRampToValueAtTime(1, t + 0.005);
    src.connect(g).connect(this.master);
    this.monitor.gain.setTargetAtTime(0, t, 0.01);
    this.audition = { src, g };
    return new Promise((resolve) => {
      src.onended = () => {
        if (this.audition && this.audition.src === src) {
          this.audition = null;
          this.monitor.gain.setTargetAtTime(1, this.ctx.currentTime, 0.01);
        }
        resolve();
      };
      src.start(t);
    });
  }

  stopAudition() {
    if (!this.audition) return;
    const { src, g } = this.audition;
    const t = this.ctx.currentTime;
    g.gain.setTargetAtTime(0, t, 0.005);
    src.stop(t + 0.03);
  }
}
