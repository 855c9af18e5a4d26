// Plays `soundtrack serve` in Unity. Three threads, none of them waiting on another:
//   - a worker thread ("soundtrack-pull") owns the connection: it connects (and reconnects after
//     a server restart), loads, starts, runs the events and parameters you post, and keeps
//     `inFlight` render requests outstanding; the client's receive thread copies each block
//     straight from the socket buffer into a lock-free ring (no per-block allocation);
//   - Unity's audio thread calls OnAudioFilterRead: it reads the ring, resamples from the
//     server's rate to AudioSettings.outputSampleRate (4-point Hermite; a plain copy when they
//     match), writes left and right to the first two output channels and silence to the rest (a
//     mono output gets their average), and plays silence (Underruns++) if the ring runs dry;
//   - the main thread, in Update, raises the C# events. A marker (beat, bar, transition, state,
//     ...) is raised when its frame is *heard*: the frames the audio thread has consumed, less
//     Unity's DSP buffer (AudioSettings.GetDSPBufferSize), advanced by the time since the last
//     audio callback. Nothing on the main thread waits on the network: PostEvent returns at once
//     and its plan arrives through a callback (and the Planned event) a frame or two later.
// Put it on a GameObject with an AudioSource (the source needs no clip).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using UnityEngine;
using Debug = UnityEngine.Debug;

namespace Soundtrack
{
    [RequireComponent(typeof(AudioSource))]
    public class SoundtrackPlayer : MonoBehaviour, IBlockSink
    {
        [Tooltip("Address of `soundtrack serve --tcp HOST:PORT`.")]
        public string host = "127.0.0.1";
        public int port = 7700;
        [Tooltip("Seed for the session; -1 keeps the graph's.")]
        public long seed = -1;
        [Tooltip("State to start in; empty starts the graph's start state.")]
        public string startState = "";
        [Tooltip("Frames per render request.")]
        public int blockFrames = 1024;
        [Tooltip("Blocks buffered ahead of the audio thread: an event sounds up to bufferBlocks * blockFrames later.")]
        public int bufferBlocks = 4;
        [Tooltip("Render requests kept outstanding (2 overlaps each round trip with the next block).")]
        public int inFlight = 2;
        [Tooltip("Seconds between reconnection attempts while the server is away.")]
        public float retrySeconds = 0.5f;
        [Tooltip("Milliseconds the worker waits for one response before it treats the server as gone.")]
        public int timeoutMs = 2000;
        [Tooltip("Advance the heard clock by the time since the last audio callback (markers land within a game frame).")]
        public bool smoothHeardClock = true;
        public bool playOnStart = true;

        /// <summary>(frame, bar, beat) of each beat, raised in Update when it is heard.</summary>
        public event Action<long, int, int> Beat;
        /// <summary>(frame, bar) of each bar, when heard.</summary>
        public event Action<long, int> Bar;
        /// <summary>(from, to, event, frame) when a transition's edit point is heard.</summary>
        public event Action<string, string, string, long> Transition;
        /// <summary>(state, frame) when the state that owns the grid changes, as heard.</summary>
        public event Action<string, long> StateChanged;
        /// <summary>Every marker as (kind, payload), when heard (segment, stinger, ... included).</summary>
        public event Action<string, Dictionary<string, object>> Notification;
        /// <summary>An event's plan (edit_frame, position, from, to, ...) once the server answered.</summary>
        public event Action<string, Dictionary<string, object>> Planned;
        /// <summary>Connected (again): the server's hello result. A new server has a new session at frame 0.</summary>
        public event Action<Dictionary<string, object>> Connected;
        /// <summary>The connection was lost (the message says why); the player retries every retrySeconds.</summary>
        public event Action<string> ConnectionLost;

        /// <summary>The server's hello result of the current connection (null while there is none).</summary>
        public Dictionary<string, object> HelloInfo { get; private set; }
        public bool IsConnected { get { return connected; } }
        /// <summary>Frames the audio thread consumed from the server (at the server's rate).</summary>
        public long PlayedFrames { get { return Interlocked.Read(ref readFrames); } }
        /// <summary>Frames pulled and waiting for the audio thread.</summary>
        public long BufferedFrames { get { return Interlocked.Read(ref writeFrames) - Interlocked.Read(ref readFrames); } }
        /// <summary>Audio callbacks that found the ring short and played silence for the rest.</summary>
        public int Underruns { get { return underruns; } }
        /// <summary>The session frame being heard now (markers and plans use session frames); -1 before any.</summary>
        public long HeardFrame { get { long o = Interlocked.Read(ref sessionOrigin); return o == NoSession ? -1 : HeardRing() - o; } }
        /// <summary>Output frames of latency after OnAudioFilterRead (Unity's DSP buffers).</summary>
        public int OutputLatencyFrames { get { return outputLatency; } }
        /// <summary>Bytes the worker thread has allocated so far (it allocates nothing per block).</summary>
        public long WorkerAllocatedBytes { get { return Interlocked.Read(ref workerAllocated); } }
        /// <summary>Bytes the client's receive thread allocated for blocks without markers (0 once running).</summary>
        public long PlainBlockAllocatedBytes { get { var c = client; return c == null ? 0 : c.PlainBlockAllocatedBytes; } }

        const long NoSession = long.MinValue;

        struct Command
        {
            public string Method, Kind;
            public object[] Args;
            public Action<Dictionary<string, object>> Done;
        }

        struct Due
        {
            public long Ring;  // ring frame at which it is heard; NoSession = at once
            public string Kind;
            public Dictionary<string, object> Payload;
            public Action<Dictionary<string, object>> Done;
        }

        readonly ConcurrentQueue<Command> commands = new ConcurrentQueue<Command>();
        readonly ConcurrentQueue<Due> arrived = new ConcurrentQueue<Due>();
        readonly List<Due> due = new List<Due>();
        volatile SoundtrackClient client;
        volatile bool running, connected;
        Thread worker;
        float[] ring;              // channels interleaved, capacity frames; allocated once
        int capacity, channels;    // frames, source channels
        long readFrames, writeFrames, sessionOrigin = NoSession;  // ring frames, only ever growing
        int underruns, serverRate = 48000, outputRate = 48000, outputLatency;
        double step = 1.0, phase;  // source frames per output frame; the audio thread's position between ring frames
        long lastCallbackTicks, lastCallbackFrames, workerAllocated;
        const int Guard = 4;       // frames the resampler reads behind and ahead of its position

        void Start()
        {
            if (playOnStart) Begin();
        }

        /// <summary>Start the worker (returns at once): it connects, loads, starts and pulls,
        /// and reconnects whenever the server goes away. Connected is raised in Update.</summary>
        public void Begin()
        {
            if (running) return;
            ReadAudioSettings();
            running = true;
            worker = new Thread(Work) { IsBackground = true, Name = "soundtrack-pull" };
            worker.Start();
        }

        void ReadAudioSettings()  // main thread: Unity's AudioSettings are not for the audio thread
        {
            outputRate = AudioSettings.outputSampleRate;
            int length, count;
            AudioSettings.GetDSPBufferSize(out length, out count);
            outputLatency = length * count;
            step = (double)serverRate / outputRate;
        }

        /// <summary>Post a game event (never waits): the worker sends it before its next render;
        /// `onPlan` (and Planned) get the plan on the main thread. It is scheduled at the frame
        /// being pulled, up to bufferBlocks * blockFrames ahead of the frame being heard.</summary>
        public void PostEvent(string name, Action<Dictionary<string, object>> onPlan = null)
        {
            Send("event", "plan", onPlan, new Dictionary<string, object> { { "event", name } });
        }

        public void SetParam(string name, double value, Action<Dictionary<string, object>> onDone = null)
        {
            Send("set_param", "set_param", onDone, name, value);
        }

        /// <summary>Any method, run by the worker; `onResult` gets its result map on the main thread.</summary>
        public void Send(string method, string kind, Action<Dictionary<string, object>> onResult, params object[] args)
        {
            commands.Enqueue(new Command { Method = method, Kind = kind, Args = args, Done = onResult });
        }

        void Work()
        {
            var flight = new Queue<uint>();
            long nextTry = 0;
            var clock = Stopwatch.StartNew();
            while (running)
            {
                try
                {
                    if (client == null)
                    {
                        if (clock.ElapsedMilliseconds < nextTry) { Thread.Sleep(5); continue; }
                        nextTry = clock.ElapsedMilliseconds + (long)(retrySeconds * 1000);
                        Connect();
                        flight.Clear();
                    }
                    Command cmd;
                    while (commands.TryDequeue(out cmd))
                    {
                        var r = client.Call(cmd.Method, cmd.Args) as Dictionary<string, object>;
                        arrived.Enqueue(new Due { Ring = NoSession, Kind = cmd.Kind, Payload = r, Done = cmd.Done });
                    }
                    long room = capacity - Guard - BufferedFrames - (long)flight.Count * blockFrames;
                    while (room >= blockFrames && flight.Count < Math.Max(1, inFlight))
                    {
                        flight.Enqueue(client.SendRender(blockFrames, this));
                        room -= blockFrames;
                    }
                    if (flight.Count == 0) { Thread.Sleep(1); continue; }
                    client.WaitRender(flight.Dequeue());
                    Interlocked.Exchange(ref workerAllocated, GC.GetAllocatedBytesForCurrentThread());
                }
                catch (Exception e)
                {
                    var c = client;
                    client = null;
                    if (c != null) c.Dispose();
                    if (connected)
                    {
                        connected = false;
                        arrived.Enqueue(new Due { Ring = NoSession, Kind = "lost", Payload = new Dictionary<string, object> { { "message", e.Message } } });
                    }
                }
            }
            var last = client;
            client = null;
            if (last != null) last.Dispose();
        }

        void Connect()
        {
            var c = SoundtrackClient.Connect(host, port, timeoutMs, Math.Min(timeoutMs, 1000));
            try
            {
                var hello = c.Hello("controller", null, "soundtrack-unity");
                int ch = Convert.ToInt32(hello["channels"]);
                int rate = Convert.ToInt32(hello["sample_rate"]);
                if (ring == null)
                {
                    channels = ch;
                    capacity = blockFrames * Math.Max(2, bufferBlocks) + Guard;
                    ring = new float[capacity * channels];
                }
                else if (ch != channels)
                    throw new InvalidOperationException("soundtrack: the server now sends " + ch + " channels, not " + channels);
                serverRate = rate;
                step = (double)serverRate / Math.Max(1, outputRate);
                c.Load(seed >= 0 ? (long?)seed : null);
                c.Start(string.IsNullOrEmpty(startState) ? null : startState);
                Interlocked.Exchange(ref sessionOrigin, NoSession);
                client = c;
                connected = true;
                HelloInfo = hello;
                arrived.Enqueue(new Due { Ring = NoSession, Kind = "connected", Payload = hello });
            }
            catch
            {
                c.Dispose();
                throw;
            }
        }

        /// <summary>The client's receive thread, in order: copy the block into the ring.</summary>
        public void OnBlock(long frame, int frames, int blockChannels, byte[] buf, int offset, object[] markers)
        {
            long w = Interlocked.Read(ref writeFrames);
            if (Interlocked.Read(ref sessionOrigin) == NoSession) Interlocked.Exchange(ref sessionOrigin, w - frame);
            int at = (int)(w % capacity), first = Math.Min(frames, capacity - at);
            if (BitConverter.IsLittleEndian)
            {
                Buffer.BlockCopy(buf, offset, ring, at * channels * 4, first * channels * 4);
                if (first < frames) Buffer.BlockCopy(buf, offset + first * channels * 4, ring, 0, (frames - first) * channels * 4);
            }
            else
                for (int k = 0; k < frames * channels; k++)
                {
                    int b = offset + 4 * k;
                    int bits = buf[b] | buf[b + 1] << 8 | buf[b + 2] << 16 | buf[b + 3] << 24;
                    ring[((at + k / channels) % capacity) * channels + k % channels] = BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
                }
            if (markers != null)
                foreach (var m in markers)
                {
                    var d = m as Dictionary<string, object>;
                    if (d == null || !d.ContainsKey("frame")) continue;
                    arrived.Enqueue(new Due { Ring = w - frame + Convert.ToInt64(d["frame"]), Kind = Str(d, "kind") ?? "marker", Payload = d });
                }
            Interlocked.Exchange(ref writeFrames, w + frames);
        }

        /// <summary>Unity's audio thread: resample the ring into `data` (no locks, no allocation).</summary>
        public void OnAudioFilterRead(float[] data, int outChannels)
        {
            int frames = data.Length / outChannels;
            if (ring == null)
            {
                Array.Clear(data, 0, data.Length);
                return;
            }
            long r = Interlocked.Read(ref readFrames);
            long available = Interlocked.Read(ref writeFrames) - r;
            double s = step;
            int made = 0;
            if (s == 1.0 && phase == 0.0)
            {
                made = (int)Math.Min(frames, available);
                for (int f = 0; f < made; f++)
                {
                    int src = (int)((r + f) % capacity) * channels;
                    Put(data, f * outChannels, outChannels, ring[src], ring[src + (channels > 1 ? 1 : 0)]);
                }
                r += made;
            }
            else
            {
                // 4-point Hermite between ring frames r-1, r, r+1, r+2 at fraction `phase`
                double ph = phase;
                for (; made < frames; made++)
                {
                    if (available < 3) break;
                    float t = (float)ph;
                    for (int c = 0; c < 2; c++)
                    {
                        int ch = channels > 1 ? c : 0;
                        float y0 = Sample(r - 1, ch), y1 = Sample(r, ch), y2 = Sample(r + 1, ch), y3 = Sample(r + 2, ch);
                        float c1 = 0.5f * (y2 - y0), c2 = y0 - 2.5f * y1 + 2f * y2 - 0.5f * y3, c3 = 0.5f * (y3 - y0) + 1.5f * (y1 - y2);
                        float v = ((c3 * t + c2) * t + c1) * t + y1;
                        if (c == 0) data[made * outChannels] = v;
                        else tmpRight = v;
                    }
                    Put(data, made * outChannels, outChannels, data[made * outChannels], tmpRight);
                    ph += s;
                    int whole = (int)ph;
                    ph -= whole;
                    r += whole;
                    available -= whole;
                }
                phase = ph;
            }
            if (made < frames)
            {
                Array.Clear(data, made * outChannels, (frames - made) * outChannels);
                if (connected || Interlocked.Read(ref writeFrames) > 0) underruns++;
            }
            lastCallbackTicks = Stopwatch.GetTimestamp();
            lastCallbackFrames = frames;
            Interlocked.Exchange(ref readFrames, r);
        }

        float tmpRight;

        float Sample(long frame, int ch)
        {
            return ring[(int)(((frame % capacity) + capacity) % capacity) * channels + ch];
        }

        static void Put(float[] data, int at, int outChannels, float left, float right)
        {
            if (outChannels == 1) { data[at] = 0.5f * (left + right); return; }
            data[at] = left;
            data[at + 1] = right;
            for (int c = 2; c < outChannels; c++) data[at + c] = 0f;  // centre, LFE, surrounds: silent
        }

        long HeardRing()
        {
            double heard = Interlocked.Read(ref readFrames) - outputLatency * step;
            if (smoothHeardClock && lastCallbackTicks != 0)
            {
                double since = (Stopwatch.GetTimestamp() - lastCallbackTicks) / (double)Stopwatch.Frequency * outputRate;
                heard += Math.Min(since, lastCallbackFrames) * step;
            }
            return (long)Math.Floor(heard);
        }

        void Update()
        {
            if (AudioSettings.outputSampleRate != outputRate) ReadAudioSettings();
            Due d;
            while (arrived.TryDequeue(out d))
            {
                if (d.Ring == NoSession) Raise(d);
                else due.Add(d);  // arrives in frame order: the worker reads blocks in order
            }
            long heard = HeardRing();
            int n = 0;
            while (n < due.Count && due[n].Ring <= heard) n++;
            for (int k = 0; k < n; k++) Raise(due[k]);
            due.RemoveRange(0, n);
        }

        void Raise(Due d)
        {
            var p = d.Payload ?? new Dictionary<string, object>();
            long frame = p.ContainsKey("frame") && p["frame"] != null ? Convert.ToInt64(p["frame"]) : 0;
            switch (d.Kind)
            {
                case "beat":
                    if (Beat != null) Beat(frame, Int(p, "bar"), Int(p, "beat"));
                    break;
                case "bar":
                    if (Bar != null) Bar(frame, Int(p, "bar"));
                    break;
                case "transition":
                    if (Transition != null) Transition(Str(p, "from"), Str(p, "to"), Str(p, "event"), frame);
                    break;
                case "state":
                    if (StateChanged != null) StateChanged(Str(p, "state"), frame);
                    break;
                case "plan":
                    if (Planned != null) Planned(Str(p, "event"), p);
                    break;
                case "connected":
                    if (Connected != null) Connected(p);
                    break;
                case "lost":
                    Debug.LogWarning("soundtrack: connection lost: " + Str(p, "message") + "; retrying");
                    if (ConnectionLost != null) ConnectionLost(Str(p, "message"));
                    break;
            }
            if (d.Done != null) d.Done(p);
            if (d.Ring != NoSession && Notification != null) Notification(d.Kind, p);
        }

        /// <summary>Raise what is due now (Update does this each frame).</summary>
        public void DispatchNotifications() { Update(); }

        static int Int(Dictionary<string, object> p, string key)
        {
            object v;
            return p.TryGetValue(key, out v) && v != null ? Convert.ToInt32(v) : 0;
        }

        static string Str(Dictionary<string, object> p, string key)
        {
            object v;
            return p.TryGetValue(key, out v) ? v as string : null;
        }

        void OnDestroy()
        {
            running = false;
            if (worker != null) worker.Join(3000);
            worker = null;
        }

        /// <summary>Stop pulling and close the connection (OnDestroy does this).</summary>
        public void Close() { OnDestroy(); }
    }
}
