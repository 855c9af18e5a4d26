// A C# client for `soundtrack serve` (MessagePack-RPC over TCP; see docs/protocol.md), with a
// small self-contained msgpack codec: no NuGet, no Unity types, so it also runs in a console
// program or a server build. MIT licence.
//
//   using (var c = SoundtrackClient.Connect("127.0.0.1", 7700)) {
//       c.Hello("controller"); c.Load(); c.Start();
//       c.NotificationReceived += (kind, p) => { /* on the receive thread */ };
//       c.Subscribe("beat", "bar", "transition", "state");
//       var plan = c.Event("enemy_spotted");      // plan["edit_frame"], plan["position"], ...
//       Block b = c.Render(1024);                 // b.Pcm: float[] interleaved, -1..1
//   }
//
// Calls block the calling thread until their response arrives; any thread may call (requests
// are written whole under a lock and matched by msgid). A background thread reads the socket:
// it raises NotificationReceived for each notification, in order, before it hands over the
// response that follows it.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace Soundtrack
{
    /// <summary>The error codes of docs/protocol.md.</summary>
    public static class ErrorCode
    {
        public const int ParseError = -32700, MessageTooLarge = -32701, InvalidRequest = -32600,
            MethodNotFound = -32601, InvalidParams = -32602, InternalError = -32603,
            OutOfRange = 1, NotLoaded = 2, NotController = 3, Unauthorized = 4,
            Rejected = 5, WrongMode = 6, Busy = 7;
    }

    /// <summary>An error response: Code (see ErrorCode), the method, the server's message.</summary>
    public sealed class RemoteException : Exception
    {
        public readonly string Method;
        public readonly int Code;
        public readonly string RemoteMessage;

        public RemoteException(string method, int code, string message)
            : base(method + ": error " + code + ": " + message)
        {
            Method = method;
            Code = code;
            RemoteMessage = message;
        }
    }

    /// <summary>One pulled block: Pcm holds Frames * Channels interleaved samples in -1..1.</summary>
    public sealed class Block
    {
        public long Frame;
        public int Frames;
        public int Channels;
        public float[] Pcm;
        public object[] Markers;
    }

    /// <summary>
    /// MessagePack for the protocol's types. Decoded: null, bool, long (every integer; a
    /// uint64 over long.MaxValue stays ulong), double (float32 and float64), string, byte[]
    /// (bin), object[] (array), Dictionary&lt;string, object&gt; (map).
    /// </summary>
    public static class MsgPack
    {
        public sealed class IncompleteException : Exception { }

        public static byte[] Encode(object value)
        {
            var s = new MemoryStream();
            Write(s, value);
            return s.ToArray();
        }

        static void Be(Stream s, ulong v, int bytes)
        {
            for (int k = bytes - 1; k >= 0; k--) s.WriteByte((byte)(v >> (8 * k)));
        }

        static void Header(Stream s, long n, int fix, int fixLimit, int t8, int t16, int t32)
        {
            if (n < fixLimit) s.WriteByte((byte)(fix + n));
            else if (t8 != 0 && n < 256) { s.WriteByte((byte)t8); Be(s, (ulong)n, 1); }
            else if (n < 65536) { s.WriteByte((byte)t16); Be(s, (ulong)n, 2); }
            else { s.WriteByte((byte)t32); Be(s, (ulong)n, 4); }
        }

        static void WriteInt(Stream s, long x)
        {
            if (x >= 0)
            {
                if (x < 128) s.WriteByte((byte)x);
                else if (x < 256) { s.WriteByte(0xcc); Be(s, (ulong)x, 1); }
                else if (x < 65536) { s.WriteByte(0xcd); Be(s, (ulong)x, 2); }
                else if (x < 4294967296L) { s.WriteByte(0xce); Be(s, (ulong)x, 4); }
                else { s.WriteByte(0xcf); Be(s, (ulong)x, 8); }
            }
            else if (x >= -32) s.WriteByte((byte)(sbyte)x);
            else if (x >= -128) { s.WriteByte(0xd0); Be(s, (ulong)x, 1); }
            else if (x >= -32768) { s.WriteByte(0xd1); Be(s, (ulong)x, 2); }
            else if (x >= int.MinValue) { s.WriteByte(0xd2); Be(s, (ulong)x, 4); }
            else { s.WriteByte(0xd3); Be(s, (ulong)x, 8); }
        }

        public static void Write(Stream s, object v)
        {
            if (v == null) { s.WriteByte(0xc0); return; }
            // `is` tests, not a type switch: mono's mcs (used to check this file in CI) lacks it
            if (v is bool) { s.WriteByte((bool)v ? (byte)0xc3 : (byte)0xc2); return; }
            if (v is int || v is long || v is short || v is sbyte || v is byte || v is ushort || v is uint)
            {
                WriteInt(s, Convert.ToInt64(v));
                return;
            }
            if (v is ulong)
            {
                ulong u64 = (ulong)v;
                if (u64 <= long.MaxValue) WriteInt(s, (long)u64);
                else { s.WriteByte(0xcf); Be(s, u64, 8); }
                return;
            }
            if (v is float || v is double)
            {
                s.WriteByte(0xcb);
                Be(s, (ulong)BitConverter.DoubleToInt64Bits(Convert.ToDouble(v)), 8);
                return;
            }
            var str = v as string;
            if (str != null)
            {
                var bytes = Encoding.UTF8.GetBytes(str);
                Header(s, bytes.Length, 0xa0, 32, 0xd9, 0xda, 0xdb);
                s.Write(bytes, 0, bytes.Length);
                return;
            }
            var bin = v as byte[];
            if (bin != null)
            {
                Header(s, bin.Length, 0, 0, 0xc4, 0xc5, 0xc6);
                s.Write(bin, 0, bin.Length);
                return;
            }
            var map = v as IDictionary;
            if (map != null)
            {
                Header(s, map.Count, 0x80, 16, 0, 0xde, 0xdf);
                foreach (DictionaryEntry e in map) { Write(s, e.Key); Write(s, e.Value); }
                return;
            }
            var list = v as IList;
            if (list != null)
            {
                Header(s, list.Count, 0x90, 16, 0, 0xdc, 0xdd);
                foreach (var x in list) Write(s, x);
                return;
            }
            throw new ArgumentException("msgpack: cannot encode a " + v.GetType().Name);
        }

        /// <summary>
        /// Decode one value from buf[pos..end). Returns the position after it; throws
        /// IncompleteException when the bytes end inside the value (read more and retry).
        /// </summary>
        public static int Decode(byte[] buf, int pos, int end, out object value)
        {
            var r = new Reader { Buf = buf, Pos = pos, End = end };
            value = r.Value(0);
            return r.Pos;
        }

        sealed class Reader
        {
            public byte[] Buf;
            public int Pos, End;

            int Take(long n)
            {
                if (End - Pos < n) throw new IncompleteException();
                int at = Pos;
                Pos += (int)n;
                return at;
            }

            ulong Be(int n)
            {
                int at = Take(n);
                ulong v = 0;
                for (int k = 0; k < n; k++) v = (v << 8) | Buf[at + k];
                return v;
            }

            byte[] Raw(long n)
            {
                int at = Take(n);
                var b = new byte[n];
                Buffer.BlockCopy(Buf, at, b, 0, (int)n);
                return b;
            }

            string Str(long n)
            {
                int at = Take(n);
                return Encoding.UTF8.GetString(Buf, at, (int)n);
            }

            object[] Array(long n, int depth)
            {
                var a = new object[n];
                for (long k = 0; k < n; k++) a[k] = Value(depth + 1);
                return a;
            }

            Dictionary<string, object> Map(long n, int depth)
            {
                var m = new Dictionary<string, object>();
                for (long k = 0; k < n; k++)
                {
                    object key = Value(depth + 1);
                    m[key == null ? "" : key as string ?? Convert.ToString(key, System.Globalization.CultureInfo.InvariantCulture)] = Value(depth + 1);
                }
                return m;
            }

            public object Value(int depth)
            {
                if (depth > 64) throw new InvalidDataException("msgpack: nested deeper than 64");
                int t = Buf[Take(1)];
                if (t < 0x80) return (long)t;
                if (t >= 0xe0) return (long)(sbyte)t;
                if (t < 0x90) return Map(t & 0x0f, depth);
                if (t < 0xa0) return Array(t & 0x0f, depth);
                if (t < 0xc0) return Str(t & 0x1f);
                switch (t)
                {
                    case 0xc0: return null;
                    case 0xc2: return false;
                    case 0xc3: return true;
                    case 0xc4: return Raw((long)Be(1));
                    case 0xc5: return Raw((long)Be(2));
                    case 0xc6: return Raw((long)Be(4));
                    case 0xca: return (double)BitConverter.ToSingle(BitConverter.GetBytes((uint)Be(4)), 0);
                    case 0xcb: return BitConverter.Int64BitsToDouble((long)Be(8));
                    case 0xcc: return (long)Be(1);
                    case 0xcd: return (long)Be(2);
                    case 0xce: return (long)Be(4);
                    case 0xcf: { ulong u = Be(8); return u <= long.MaxValue ? (object)(long)u : u; }
                    case 0xd0: return (long)(sbyte)Be(1);
                    case 0xd1: return (long)(short)Be(2);
                    case 0xd2: return (long)(int)Be(4);
                    case 0xd3: return (long)Be(8);
                    case 0xd9: return Str((long)Be(1));
                    case 0xda: return Str((long)Be(2));
                    case 0xdb: return Str((long)Be(4));
                    case 0xdc: return Array((long)Be(2), depth);
                    case 0xdd: return Array((long)Be(4), depth);
                    case 0xde: return Map((long)Be(2), depth);
                    case 0xdf: return Map((long)Be(4), depth);
                    // ext types: skipped (the protocol sends none)
                    case 0xd4: Take(2); return null;
                    case 0xd5: Take(3); return null;
                    case 0xd6: Take(5); return null;
                    case 0xd7: Take(9); return null;
                    case 0xd8: Take(17); return null;
                    case 0xc7: Take((long)Be(1) + 1); return null;
                    case 0xc8: Take((long)Be(2) + 1); return null;
                    case 0xc9: Take((long)Be(4) + 1); return null;
                }
                throw new InvalidDataException("msgpack: byte 0xc1 is not a msgpack type");
            }
        }
    }

    /// <summary>One connection to `soundtrack serve`.</summary>
    public sealed class SoundtrackClient : IDisposable
    {
        /// <summary>(kind, payload) for each notification, raised on the receive thread.</summary>
        public event Action<string, Dictionary<string, object>> NotificationReceived;

        /// <summary>Raised once, on the receive thread, when the connection ends.</summary>
        public event Action<Exception> Closed;

        public int TimeoutMs;

        readonly TcpClient tcp;
        readonly NetworkStream stream;
        readonly Thread reader;
        readonly object sendLock = new object();
        readonly Dictionary<uint, Pending> pending = new Dictionary<uint, Pending>();
        int nextId;
        volatile Exception failure;

        sealed class Pending
        {
            public object Error, Result;
            public bool Done;
        }

        SoundtrackClient(TcpClient tcp, int timeoutMs)
        {
            this.tcp = tcp;
            TimeoutMs = timeoutMs;
            tcp.NoDelay = true;
            stream = tcp.GetStream();
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "soundtrack-receive" };
            reader.Start();
        }

        /// <summary>Connect over TCP; throws SocketException naming the cause when that fails.</summary>
        public static SoundtrackClient Connect(string host = "127.0.0.1", int port = 7700, int timeoutMs = 10000)
        {
            return new SoundtrackClient(new TcpClient(host, port), timeoutMs);
        }

        public bool IsClosed { get { return failure != null; } }

        /// <summary>Call `method` with positional params; returns the result or throws RemoteException.</summary>
        public object Call(string method, params object[] args)
        {
            uint id = (uint)Interlocked.Increment(ref nextId);
            var p = new Pending();
            lock (pending) pending[id] = p;
            byte[] bytes = MsgPack.Encode(new object[] { 0, id, method, args ?? new object[0] });
            try
            {
                lock (sendLock) stream.Write(bytes, 0, bytes.Length);
            }
            catch (Exception e)
            {
                lock (pending) pending.Remove(id);
                throw new IOException("soundtrack: " + method + ": send failed: " + e.Message, e);
            }
            lock (p)
            {
                var deadline = DateTime.UtcNow.AddMilliseconds(TimeoutMs);
                while (!p.Done)
                {
                    if (failure != null) throw new IOException("soundtrack: " + method + ": " + failure.Message, failure);
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                    {
                        lock (pending) pending.Remove(id);
                        throw new TimeoutException("soundtrack: " + method + ": no response within " + TimeoutMs + " ms");
                    }
                    Monitor.Wait(p, left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
                }
            }
            if (p.Error != null)
            {
                var e = p.Error as Dictionary<string, object>;
                object code = null, message = null;
                if (e != null) { e.TryGetValue("code", out code); e.TryGetValue("message", out message); }
                throw new RemoteException(method, code == null ? ErrorCode.InternalError : Convert.ToInt32(code),
                    message as string ?? Convert.ToString(p.Error));
            }
            return p.Result;
        }

        /// <summary>Call with named parameters (one map); null values are left out.</summary>
        public Dictionary<string, object> CallNamed(string method, params object[] keysAndValues)
        {
            var named = new Dictionary<string, object>();
            for (int k = 0; k + 1 < keysAndValues.Length; k += 2)
                if (keysAndValues[k + 1] != null) named[(string)keysAndValues[k]] = keysAndValues[k + 1];
            return (Dictionary<string, object>)(named.Count > 0 ? Call(method, named) : Call(method));
        }

        public Dictionary<string, object> Hello(string role = "controller", string token = null, string client = "soundtrack-csharp")
        {
            return CallNamed("hello", "role", role, "version", 1, "client", client, "token", token);
        }

        public Dictionary<string, object> Load(long? seed = null, string path = null)
        {
            return CallNamed("load", "seed", seed, "path", path);
        }

        public Dictionary<string, object> Start(string state = null)
        {
            return (Dictionary<string, object>)(state == null ? Call("start") : Call("start", state));
        }

        /// <summary>Post a game event; returns the plan (edit_frame, position, from, to, ...).</summary>
        public Dictionary<string, object> Event(string name, long? atFrame = null)
        {
            return CallNamed("event", "event", name, "at_frame", atFrame);
        }

        /// <summary>`ramp`: beats (a number) or a string such as "2 bars" or "0.5s"; null = the parameter's own.</summary>
        public Dictionary<string, object> SetParam(string name, double value, object ramp = null)
        {
            return CallNamed("set_param", "name", name, "value", value, "ramp", ramp);
        }

        /// <summary>The next `frames` frames, decoded from the little-endian float32 bin.</summary>
        public Block Render(int frames)
        {
            var r = (Dictionary<string, object>)Call("render", frames, "f32");
            var bytes = (byte[])r["pcm"];
            var pcm = new float[bytes.Length / 4];
            if (BitConverter.IsLittleEndian) Buffer.BlockCopy(bytes, 0, pcm, 0, pcm.Length * 4);
            else
                for (int k = 0; k < pcm.Length; k++)
                {
                    System.Array.Reverse(bytes, 4 * k, 4);
                    pcm[k] = BitConverter.ToSingle(bytes, 4 * k);
                }
            object markers;
            r.TryGetValue("markers", out markers);
            return new Block
            {
                Frame = Convert.ToInt64(r["frame"]), Frames = Convert.ToInt32(r["frames"]),
                Channels = Convert.ToInt32(r["channels"]), Pcm = pcm, Markers = markers as object[] ?? new object[0],
            };
        }

        public Dictionary<string, object> Subscribe(params string[] kinds)
        {
            return (Dictionary<string, object>)(kinds.Length == 0 ? Call("subscribe") : Call("subscribe", (object)kinds));
        }

        public Dictionary<string, object> Unsubscribe(params string[] kinds)
        {
            return (Dictionary<string, object>)(kinds.Length == 0 ? Call("unsubscribe") : Call("unsubscribe", (object)kinds));
        }

        public Dictionary<string, object> Status() { return (Dictionary<string, object>)Call("status"); }
        public Dictionary<string, object> Stop(object fade = null) { return CallNamed("stop", "fade", fade); }
        public Dictionary<string, object> Shutdown() { return (Dictionary<string, object>)Call("shutdown"); }
        public object Ping(object payload) { return Call("ping", payload); }

        void ReadLoop()
        {
            var buf = new byte[1 << 16];
            int start = 0, end = 0;
            Exception why = null;
            try
            {
                while (true)
                {
                    if (end == buf.Length)
                    {
                        // keep unread bytes at the front; grow when one message needs more room
                        if (start > 0) { Buffer.BlockCopy(buf, start, buf, 0, end - start); end -= start; start = 0; }
                        else System.Array.Resize(ref buf, buf.Length * 2);
                    }
                    int n = stream.Read(buf, end, buf.Length - end);
                    if (n <= 0) throw new IOException("the server closed the connection");
                    end += n;
                    while (start < end)
                    {
                        object msg;
                        int next;
                        try { next = MsgPack.Decode(buf, start, end, out msg); }
                        catch (MsgPack.IncompleteException) { break; }
                        start = next;
                        Dispatch(msg as object[]);
                    }
                    if (start == end) start = end = 0;
                }
            }
            catch (Exception e)
            {
                why = e;
            }
            failure = why ?? new IOException("closed");
            lock (pending)
                foreach (var p in pending.Values)
                    lock (p) Monitor.PulseAll(p);
            var closed = Closed;
            if (closed != null) closed(failure);
        }

        void Dispatch(object[] msg)
        {
            if (msg == null || msg.Length < 3) return;
            long type = Convert.ToInt64(msg[0]);
            if (type == 2 && msg.Length == 3)
            {
                var handler = NotificationReceived;
                var ps = msg[2] as object[];
                var payload = (ps != null && ps.Length == 1 ? ps[0] : msg[2]) as Dictionary<string, object>;
                if (handler != null) handler(msg[1] as string, payload ?? new Dictionary<string, object>());
            }
            else if (type == 1 && msg.Length == 4)
            {
                uint id = (uint)Convert.ToInt64(msg[1]);
                Pending p;
                lock (pending)
                {
                    if (!pending.TryGetValue(id, out p)) return;
                    pending.Remove(id);
                }
                lock (p)
                {
                    p.Error = msg[2];
                    p.Result = msg[3];
                    p.Done = true;
                    Monitor.PulseAll(p);
                }
            }
        }

        public void Dispose()
        {
            try { tcp.Close(); } catch (Exception) { }
            if (reader.IsAlive && Thread.CurrentThread != reader) reader.Join(1000);
        }
    }
}
