// The conformance run of the C# client against a live server (tests/test_integrations.py
// compiles it with mcs and runs it with mono):
//   mono Conformance.exe client HOST PORT EVENT SEED PRE_BLOCKS OUT.f32
//   mono Conformance.exe player HOST PORT EVENT SEED PRE_BLOCKS OUT.f32
// `client` drives SoundtrackClient; `player` drives SoundtrackPlayer as Unity would (its pull
// thread, ring buffer, OnAudioFilterRead and main-thread events). Prints one line per fact
// (hello, error, start, note KIND FRAME, block FRAME FRAMES, plan, param, done) and writes
// every sample it got, as decoded, to OUT.f32.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using Soundtrack;

static class Conformance
{
    const int BlockFrames = 1024;

    static long L(Dictionary<string, object> d, string k) { return Convert.ToInt64(d[k]); }

    static int Main(string[] a)
    {
        if (a.Length != 7) { Console.Error.WriteLine("usage: Conformance.exe client|player HOST PORT EVENT SEED PRE_BLOCKS OUT.f32"); return 2; }
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        string host = a[1], ev = a[3], outPath = a[6];
        int port = int.Parse(a[2]), preBlocks = int.Parse(a[5]);
        long seed = long.Parse(a[4]);
        return a[0] == "player" ? Player(host, port, ev, seed, preBlocks, outPath) : Client(host, port, ev, seed, preBlocks, outPath);
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
            // Raised on the receive thread, before the response that follows: print in that order.
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

    static int Player(string host, int port, string ev, long seed, int preBlocks, string outPath)
    {
        var player = new SoundtrackPlayer { host = host, port = port, seed = seed, blockFrames = BlockFrames, bufferBlocks = 3 };
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
                if (k == preBlocks)
                {
                    var plan = player.PostEvent(ev);  // lands wherever the pull thread is
                    PrintPlan(plan);
                    editFrame = L(plan, "edit_frame");
                }
                // A test cannot keep real time: wait for a whole buffer so no callback underruns.
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (player.BufferedFrames < BlockFrames && DateTime.UtcNow < deadline) Thread.Sleep(1);
                player.OnAudioFilterRead(buffer, 2);
                foreach (float s in buffer) file.Write(s);
                frame0 += BlockFrames;
                player.DispatchNotifications();
            }
        }
        Console.WriteLine("underruns {0} played={1}", player.Underruns, player.PlayedFrames);
        Console.WriteLine("done frames={0}", frame0);
        player.Close();
        return 0;
    }
}
