// The C# client and the Unity player against a live server (tests/test_integrations.py compiles
// this with mcs against Tests~/Stubs and runs it with mono). Modes:
//   client|player HOST PORT EVENT SEED PRE_BLOCKS OUT.f32   the conformance run
//   reentrant HOST PORT SEED EVENT                          handlers that call the client
//   reconnect HOST PORT SEED OUT.f32                        a server killed and started again
//   heard HOST PORT SEED OUT.f32                            markers raised when heard
//   resample HOST PORT SEED RATE CHANNELS OUT.f32           output at another rate and layout
//   latency HOST PORT N                                     round trips (integrations/bench_latency.py)
// `player` drives SoundtrackPlayer as Unity would (its worker thread, ring buffer,
// OnAudioFilterRead and main-thread events). Each prints one line per fact and writes the
// samples it got, as decoded, to OUT.f32.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using Soundtrack;
using UnityEngine;

static class Conformance
{
    const int BlockFrames = 1024;

    static long L(Dictionary<string, object> d, string k) { return Convert.ToInt64(d[k]); }

    static int Main(string[] a)
    {
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            switch (a.Length > 0 ? a[0] : "")
            {
                case "client": return Client(a[1], int.Parse(a[2]), a[3], long.Parse(a[4]), int.Parse(a[5]), a[6]);
                case "player": return Player(a[1], int.Parse(a[2]), a[3], long.Parse(a[4]), int.Parse(a[5]), a[6]);
                case "reentrant": return Reentrant(a[1], int.Parse(a[2]), long.Parse(a[3]), a[4]);
                case "reconnect": return Reconnect(a[1], int.Parse(a[2]), long.Parse(a[3]), a[4]);
                case "heard": return Heard(a[1], int.Parse(a[2]), long.Parse(a[3]), a[4]);
                case "resample": return Resample(a[1], int.Parse(a[2]), long.Parse(a[3]), int.Parse(a[4]), int.Parse(a[5]), a[6]);
                case "latency": return Latency(a[1], int.Parse(a[2]), int.Parse(a[3]));
            }
        }
        catch (IndexOutOfRangeException) { }
        Console.Error.WriteLine("usage: see the comment at the top of Conformance.cs");
        return 2;
    }

    static void PrintPlan(Dictionary<string, object> plan)
    {
        Console.WriteLine("plan accepted={0} posted_frame={1} edit_frame={2} from={3} to={4} position={5}",
            ((bool)plan["accepted"]) ? "true" : "false", L(plan, "posted_frame"), L(plan, "edit_frame"), plan["from"], plan["to"], plan["position"]);
    }

    static int Client(string host, int port, string ev, long seed, int preBlocks, string outPath)
    {
        using (var c = SoundtrackClient.Connect(host, port, 20000))
        using (var file = new BinaryWriter(File.Create(outPath)))
        {
            var hello = c.Hello("controller");
            Console.WriteLine("hello protocol={0} role={1} sample_rate={2} channels={3} graph={4}",
                hello["protocol"], hello["role"], hello["sample_rate"], hello["channels"], hello["graph"]);
            try { c.Call("no_such_method"); Console.WriteLine("error none"); }
            catch (RemoteException e) { Console.WriteLine("error code={0} name={1}", e.Code, e.Code == ErrorCode.MethodNotFound ? "METHOD_NOT_FOUND" : "?"); }
            // Raised before the call whose response follows returns: print in that order.
            c.NotificationReceived += (kind, p) => Console.WriteLine("note {0} {1}", kind, L(p, "frame"));
            c.Subscribe("beat", "bar", "transition", "state");
            c.Load(seed);
            var started = c.Start();
            Console.WriteLine("start frame={0} state={1}", L(started, "frame"), started["state"]);
            long frame = 0;
            Action pull = () =>
            {
                Block b = c.Render(BlockFrames);
                Console.WriteLine("block {0} {1}", b.Frame, b.Frames);
                if (b.Pcm.Length != b.Frames * b.Channels) throw new Exception("pcm size");
                foreach (float s in b.Pcm) file.Write(s);
                frame += b.Frames;
            };
            for (int k = 0; k < preBlocks; k++) pull();
            var plan = c.Event(ev);
            PrintPlan(plan);
            while (frame < L(plan, "edit_frame") + 4 * BlockFrames) pull();
            var p2 = c.SetParam("intensity", 0.9);
            Console.WriteLine("param frame={0} end_frame={1}", L(p2, "frame"), L(p2, "end_frame"));
            Console.WriteLine("done frames={0}", frame);
        }
        return 0;
    }

    // A test cannot keep real time: wait until the ring holds `frames`, so no callback underruns.
    static void WaitBuffered(SoundtrackPlayer player, int frames)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (player.BufferedFrames < frames + 4)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the player's ring stayed empty");
            Thread.Sleep(1);
            player.DispatchNotifications();  // connection news, plans
        }
    }

    static SoundtrackPlayer NewPlayer(string host, int port, long seed)
    {
        var player = new SoundtrackPlayer { host = host, port = port, seed = seed, blockFrames = BlockFrames, bufferBlocks = 3, smoothHeardClock = false };
        player.ConnectionLost += why => Console.WriteLine("lost " + why);
        return player;
    }

    static int Player(string host, int port, string ev, long seed, int preBlocks, string outPath)
    {
        AudioSettings.dspBufferLength = 256;
        AudioSettings.dspBufferCount = 2;  // 512 frames after OnAudioFilterRead: heard within the run
        var player = NewPlayer(host, port, seed);
        player.Beat += (frame, bar, beat) => Console.WriteLine("note beat {0}", frame);
        player.Bar += (frame, bar) => Console.WriteLine("note bar {0}", frame);
        player.Transition += (from, to, e, frame) => Console.WriteLine("note transition {0}", frame);
        player.StateChanged += (state, frame) => Console.WriteLine("note state {0}", frame);
        player.Begin();
        var buffer = new float[BlockFrames * 2];
        long frame0 = 0, editFrame = -1;
        using (var file = new BinaryWriter(File.Create(outPath)))
        {
            for (int k = 0; editFrame < 0 || frame0 < editFrame + 4 * BlockFrames; k++)
            {
                if (k == preBlocks)  // lands wherever the worker is; the plan comes back in Update
                    player.PostEvent(ev, plan => { PrintPlan(plan); editFrame = L(plan, "edit_frame"); });
                WaitBuffered(player, BlockFrames);
                player.OnAudioFilterRead(buffer, 2);
                foreach (float s in buffer) file.Write(s);
                frame0 += BlockFrames;
                player.DispatchNotifications();
                if (k > 2000) throw new Exception("no plan");
            }
        }
        Console.WriteLine("underruns {0} played={1}", player.Underruns, player.PlayedFrames);
        Console.WriteLine("done frames={0}", frame0);
        player.Close();
        return 0;
    }

    static int Reentrant(string host, int port, long seed, string ev)
    {
        using (var c = SoundtrackClient.Connect(host, port, 5000))
        {
            c.Hello("controller");
            long edit = -1;
            c.NotificationReceived += (kind, p) =>
            {
                var s = c.Status();  // a call from inside the handler
                Console.WriteLine("note {0} {1} status={2}", kind, L(p, "frame"), L(s, "frame"));
                if (kind == "beat" && L(p, "frame") == 24000)
                {
                    var plan = c.Event(ev);
                    edit = L(plan, "edit_frame");
                    Console.WriteLine("nested-plan accepted={0} edit_frame={1}", ((bool)plan["accepted"]) ? "true" : "false", edit);
                }
            };
            c.Subscribe("beat", "bar", "transition", "state");
            c.Load(seed);
            c.Start();
            long frame = 0;
            while ((edit < 0 || frame < edit + 4 * BlockFrames) && frame <= 200000)
            {
                Block b = c.Render(BlockFrames);
                Console.WriteLine("block {0} {1}", b.Frame, b.Frames);
                frame += b.Frames;
            }
            if (c.HandlerError != null) throw c.HandlerError;
            Console.WriteLine("done frames={0}", frame);
        }
        return 0;
    }

    static int Reconnect(string host, int port, long seed, string outPath)
    {
        Func<SoundtrackClient> begin = () =>
        {
            var c = SoundtrackClient.Connect(host, port, 5000, 500);
            try { c.Hello("controller"); c.Load(seed); c.Start(); }
            catch { c.Dispose(); throw; }
            return c;
        };
        var client = begin();
        for (int k = 0; k < 8; k++) client.Render(BlockFrames);
        Console.WriteLine("ready");
        Console.Out.Flush();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try { client.Render(BlockFrames); }
            catch (Exception e) { Console.WriteLine("lost " + e.Message); break; }
            Thread.Sleep(10);
            if (DateTime.UtcNow > deadline) { Console.WriteLine("never lost"); return 1; }
        }
        client.Dispose();
        int tries = 0;
        while (true)
        {
            tries++;
            try { client = begin(); break; }
            catch (Exception)
            {
                if (DateTime.UtcNow > deadline) { Console.WriteLine("never reconnected"); return 1; }
                Thread.Sleep(50);
            }
        }
        Console.WriteLine("reconnected tries={0}", tries);
        using (var file = new BinaryWriter(File.Create(outPath)))
            for (int k = 0; k < 8; k++)
            {
                Block b = client.Render(BlockFrames);
                Console.WriteLine("block {0} {1}", b.Frame, b.Frames);
                foreach (float s in b.Pcm) file.Write(s);
            }
        client.Dispose();
        Console.WriteLine("done");
        return 0;
    }

    static int Heard(string host, int port, long seed, string outPath)
    {
        const int tick = 256;
        AudioSettings.dspBufferLength = 512;
        AudioSettings.dspBufferCount = 2;
        var player = NewPlayer(host, port, seed);
        player.Begin();
        var buffer = new float[tick * 2];
        long speaker = 0;
        player.Notification += (kind, p) => Console.WriteLine("heard {0} {1} speaker={2} pulled={3}", kind, L(p, "frame"),
            speaker, player.PlayedFrames + player.BufferedFrames);
        long audioAllocated = 0, receiveAt = -1, workerAt = -1;
        using (var file = new BinaryWriter(File.Create(outPath)))
            for (int k = 0; k < 600; k++)
            {
                WaitBuffered(player, tick);
                long before = GC.GetAllocatedBytesForCurrentThread();
                player.OnAudioFilterRead(buffer, 2);
                audioAllocated += GC.GetAllocatedBytesForCurrentThread() - before;
                foreach (float s in buffer) file.Write(s);
                speaker = player.PlayedFrames - player.OutputLatencyFrames;  // handed to the device
                player.DispatchNotifications();
                if (k == 100) { receiveAt = player.PlainBlockAllocatedBytes; workerAt = player.WorkerAllocatedBytes; }  // warmed up
            }
        Console.WriteLine("latency {0}", player.OutputLatencyFrames);
        Console.WriteLine("allocated audio={0} receive={1} worker={2}", audioAllocated, player.PlainBlockAllocatedBytes - receiveAt,
            player.WorkerAllocatedBytes - workerAt);
        Console.WriteLine("underruns {0}", player.Underruns);
        Console.WriteLine("done speaker={0}", speaker);
        player.Close();
        return 0;
    }

    static int Resample(string host, int port, long seed, int rate, int outChannels, string outPath)
    {
        AudioSettings.outputSampleRate = rate;
        var player = NewPlayer(host, port, seed);
        player.Begin();
        int frames = 512;
        var buffer = new float[frames * outChannels];
        using (var file = new BinaryWriter(File.Create(outPath)))
            for (int k = 0; k < 200; k++)
            {
                WaitBuffered(player, frames * 48000 / rate + 8);
                player.OnAudioFilterRead(buffer, outChannels);
                foreach (float s in buffer) file.Write(s);
                player.DispatchNotifications();
            }
        Console.WriteLine("underruns {0} consumed={1}", player.Underruns, player.PlayedFrames);
        Console.WriteLine("done frames={0}", 200 * frames);
        player.Close();
        return 0;
    }

    static double[] Measure(int n, Action fn)
    {
        for (int k = 0; k < 50; k++) fn();
        var t = new double[n];
        var sw = new System.Diagnostics.Stopwatch();
        for (int k = 0; k < n; k++)
        {
            sw.Restart();
            fn();
            t[k] = sw.Elapsed.TotalMilliseconds * 1000;
        }
        Array.Sort(t);
        return new[] { t[n / 2], t[(int)(n * 0.99)] };
    }

    sealed class Discard : IBlockSink
    {
        public void OnBlock(long frame, int frames, int channels, byte[] buf, int offset, object[] markers) { }
    }

    static int Latency(string host, int port, int n)
    {
        using (var c = SoundtrackClient.Connect(host, port))
        {
            c.Hello("controller"); c.Load(1); c.Start();
            var sink = new Discard();
            var r = Measure(n, () => c.WaitRender(c.SendRender(1024, sink)));
            var p = Measure(n, () => c.Ping(1));
            Console.WriteLine("latency render_p50_us={0:F0} render_p99_us={1:F0} ping_p50_us={2:F0} ping_p99_us={3:F0}", r[0], r[1], p[0], p[1]);
        }
        return 0;
    }
}
