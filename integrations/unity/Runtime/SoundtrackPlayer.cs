// Plays `soundtrack serve` in Unity: a background thread pulls blocks into a ring buffer,
// OnAudioFilterRead copies them to the audio output, Update raises C# events for the
// notifications on the main thread. Put it on a GameObject with an AudioSource (the source
// needs no clip; Unity calls OnAudioFilterRead on the component's audio thread).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using UnityEngine;

namespace Soundtrack
{
    [RequireComponent(typeof(AudioSource))]
    public class SoundtrackPlayer : MonoBehaviour
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
        [Tooltip("Blocks buffered ahead of the audio thread: latency is about bufferBlocks * blockFrames.")]
        public int bufferBlocks = 4;
        public bool playOnStart = true;

        /// <summary>(frame, bar, beat) of each beat, raised in Update on the main thread.</summary>
        public event Action<long, int, int> Beat;
        /// <summary>(frame, bar) of each bar.</summary>
        public event Action<long, int> Bar;
        /// <summary>(from, to, event, frame) when a transition's edit point sounds.</summary>
        public event Action<string, string, string, long> Transition;
        /// <summary>(state, frame) when the state that owns the grid changes.</summary>
        public event Action<string, long> StateChanged;
        /// <summary>Every notification as (kind, payload), for kinds without their own event.</summary>
        public event Action<string, Dictionary<string, object>> Notification;

        public SoundtrackClient Client { get; private set; }
        public Dictionary<string, object> HelloInfo { get; private set; }
        /// <summary>Frames the audio thread played from the server (the heard clock).</summary>
        public long PlayedFrames { get { return Interlocked.Read(ref readPos) / Math.Max(1, channels); } }
        /// <summary>Frames pulled and waiting for the audio thread.</summary>
        public long BufferedFrames { get { return (Interlocked.Read(ref writePos) - Interlocked.Read(ref readPos)) / Math.Max(1, channels); } }
        /// <summary>Audio callbacks that found the buffer short and played silence for the rest.</summary>
        public int Underruns { get { return underruns; } }

        readonly ConcurrentQueue<KeyValuePair<string, Dictionary<string, object>>> notes =
            new ConcurrentQueue<KeyValuePair<string, Dictionary<string, object>>>();
        readonly AutoResetEvent wanted = new AutoResetEvent(false);
        float[] ring;
        long readPos, writePos;  // samples, only ever growing; ring index = pos % ring.Length
        int channels = 2, underruns;
        volatile bool running;
        Thread puller;

        void Start()
        {
            if (playOnStart) Begin();
        }

        /// <summary>Connect, load, subscribe, start, and begin pulling audio.</summary>
        public void Begin()
        {
            Client = SoundtrackClient.Connect(host, port);
            HelloInfo = Client.Hello("controller", null, "soundtrack-unity");
            channels = Convert.ToInt32(HelloInfo["channels"]);
            int rate = Convert.ToInt32(HelloInfo["sample_rate"]);
            if (AudioSettings.outputSampleRate != rate)
                Debug.LogWarning("soundtrack: the server renders at " + rate + " Hz but Unity outputs " +
                                 AudioSettings.outputSampleRate + " Hz; set Project Settings > Audio > System Sample Rate to " + rate);
            Client.NotificationReceived += (kind, payload) => notes.Enqueue(new KeyValuePair<string, Dictionary<string, object>>(kind, payload));
            Client.Load(seed >= 0 ? (long?)seed : null);
            Client.Subscribe("beat", "bar", "transition", "state");
            Client.Start(string.IsNullOrEmpty(startState) ? null : startState);
            ring = new float[blockFrames * channels * (bufferBlocks + 1)];
            running = true;
            puller = new Thread(PullLoop) { IsBackground = true, Name = "soundtrack-pull" };
            puller.Start();
        }

        /// <summary>Post a game event; returns the plan. It is scheduled at the frame being
        /// pulled, which is up to bufferBlocks * blockFrames ahead of the frame being heard.</summary>
        public Dictionary<string, object> PostEvent(string name) { return Client.Event(name); }

        public Dictionary<string, object> SetParam(string name, double value) { return Client.SetParam(name, value); }

        void PullLoop()
        {
            try
            {
                int blockSamples = blockFrames * channels;
                while (running)
                {
                    if (ring.Length - (Interlocked.Read(ref writePos) - Interlocked.Read(ref readPos)) < blockSamples)
                    {
                        wanted.WaitOne(5);
                        continue;
                    }
                    Block b = Client.Render(blockFrames);
                    long w = Interlocked.Read(ref writePos);
                    for (int k = 0; k < b.Pcm.Length; k++) ring[(w + k) % ring.Length] = b.Pcm[k];
                    Interlocked.Exchange(ref writePos, w + b.Pcm.Length);
                }
            }
            catch (Exception e)
            {
                if (running) notes.Enqueue(new KeyValuePair<string, Dictionary<string, object>>(
                    "error", new Dictionary<string, object> { { "message", e.Message } }));
            }
        }

        /// <summary>Unity's audio thread: copy buffered samples out, silence for what is missing.</summary>
        public void OnAudioFilterRead(float[] data, int outChannels)
        {
            if (ring == null) return;
            long r = Interlocked.Read(ref readPos);
            long available = Interlocked.Read(ref writePos) - r;
            int frames = data.Length / outChannels;
            int have = (int)Math.Min(frames, available / channels);
            for (int f = 0; f < have; f++)
                for (int c = 0; c < outChannels; c++)
                    data[f * outChannels + c] = ring[(r + f * channels + Math.Min(c, channels - 1)) % ring.Length];
            if (have < frames)
            {
                Array.Clear(data, have * outChannels, (frames - have) * outChannels);
                if (running) underruns++;
            }
            Interlocked.Exchange(ref readPos, r + (long)have * channels);
            wanted.Set();
        }

        void Update()
        {
            KeyValuePair<string, Dictionary<string, object>> n;
            while (notes.TryDequeue(out n)) Raise(n.Key, n.Value);
        }

        void Raise(string kind, Dictionary<string, object> p)
        {
            long frame = p.ContainsKey("frame") ? Convert.ToInt64(p["frame"]) : 0;
            switch (kind)
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
                case "error":
                    Debug.LogError("soundtrack: " + Str(p, "message"));
                    break;
            }
            if (Notification != null) Notification(kind, p);
        }

        /// <summary>Run queued notifications now (Update does this each frame).</summary>
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
            wanted.Set();
            if (puller != null) puller.Join(1000);
            if (Client != null) Client.Dispose();
        }

        /// <summary>Stop pulling and close the connection (OnDestroy does this).</summary>
        public void Close() { OnDestroy(); }
    }
}
