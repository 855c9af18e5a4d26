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
// are written whole under a lock and matched by msgid). A background thread reads the socket;
// a second one raises NotificationReceived for each notification, in order, and a call returns
// only after the notifications that came before its response have been handled, so markers are
// never late. A handler may call the client (post an event on a bar). Send/Result pipeline
// requests; SendRender hands blocks to an IBlockSink without allocating (SoundtrackPlayer).
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

    /// <summary>
    /// Allocation-free reading of the one message that comes once per audio block: a `render`
    /// response. Positions are indexes into the receive buffer; everything throws
    /// MsgPack.IncompleteException when the bytes end early.
    /// </summary>
    static class Wire
    {
        static void Need(int pos, int end, long n) { if (end - pos < n) throw new MsgPack.IncompleteException(); }

        static ulong Be(byte[] b, ref int pos, int end, int n)
        {
            Need(pos, end, n);
            ulong v = 0;
            for (int k = 0; k < n; k++) v = (v << 8) | b[pos + k];
            pos += n;
            return v;
        }

        public static long Int(byte[] b, ref int pos, int end)
        {
            Need(pos, end, 1);
            int t = b[pos++];
            if (t < 0x80) return t;
            if (t >= 0xe0) return (sbyte)t;
            switch (t)
            {
                case 0xcc: return (long)Be(b, ref pos, end, 1);
                case 0xcd: return (long)Be(b, ref pos, end, 2);
                case 0xce: return (long)Be(b, ref pos, end, 4);
                case 0xcf: return (long)Be(b, ref pos, end, 8);
                case 0xd0: return (sbyte)Be(b, ref pos, end, 1);
                case 0xd1: return (short)Be(b, ref pos, end, 2);
                case 0xd2: return (int)Be(b, ref pos, end, 4);
                case 0xd3: return (long)Be(b, ref pos, end, 8);
            }
            throw new InvalidDataException("msgpack: expected an integer, got type byte 0x" + t.ToString("x2"));
        }

        /// <summary>A str or bin header: returns its length; pos moves to its first byte.</summary>
        public static int Raw(byte[] b, ref int pos, int end)
        {
            Need(pos, end, 1);
            int t = b[pos++];
            long n;
            if (t >= 0xa0 && t < 0xc0) n = t & 0x1f;
            else if (t == 0xd9 || t == 0xc4) n = (long)Be(b, ref pos, end, 1);
            else if (t == 0xda || t == 0xc5) n = (long)Be(b, ref pos, end, 2);
            else if (t == 0xdb || t == 0xc6) n = (long)Be(b, ref pos, end, 4);
            else throw new InvalidDataException("msgpack: expected str or bin, got type byte 0x" + t.ToString("x2"));
            Need(pos, end, n);
            return (int)n;
        }

        public static int MapOrArray(byte[] b, ref int pos, int end, int fix, int t16, int t32)
        {
            Need(pos, end, 1);
            int t = b[pos++];
            if ((t & 0xf0) == fix) return t & 0x0f;
            if (t == t16) return (int)Be(b, ref pos, end, 2);
            if (t == t32) return (int)Be(b, ref pos, end, 4);
            throw new InvalidDataException("msgpack: expected a map or array, got type byte 0x" + t.ToString("x2"));
        }

        public static bool Is(byte[] b, int pos, int n, string ascii)
        {
            if (n != ascii.Length) return false;
            for (int k = 0; k < n; k++) if (b[pos + k] != ascii[k]) return false;
            return true;
        }

        static long BeOr(byte[] b, int pos, int end, int n)
        {
            if (end - pos < n) return -1;
            long v = 0;
            for (int k = 0; k < n; k++) v = (v << 8) | b[pos + k];
            return v;
        }

        /// <summary>The position after the value at `pos`, or -1 when the bytes end inside it (no
        /// exception, no allocation: the receive loop asks this before it parses a message).</summary>
        public static int Skip(byte[] b, int pos, int end, int depth = 0)
        {
            if (depth > 64) throw new InvalidDataException("msgpack: nested deeper than 64");
            if (pos >= end) return -1;
            int t = b[pos++];
            long n = 0, items = 0;
            if (t < 0x80 || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return pos;
            if (t < 0x90) items = 2 * (t & 0x0f);
            else if (t < 0xa0) items = t & 0x0f;
            else if (t < 0xc0) n = t & 0x1f;
            else
                switch (t)
                {
                    case 0xcc: case 0xd0: n = 1; break;
                    case 0xcd: case 0xd1: n = 2; break;
                    case 0xca: case 0xce: case 0xd2: n = 4; break;
                    case 0xcb: case 0xcf: case 0xd3: n = 8; break;
                    case 0xc4: case 0xd9: n = BeOr(b, pos, end, 1); pos += 1; break;
                    case 0xc5: case 0xda: n = BeOr(b, pos, end, 2); pos += 2; break;
                    case 0xc6: case 0xdb: n = BeOr(b, pos, end, 4); pos += 4; break;
                    case 0xd4: n = 2; break;
                    case 0xd5: n = 3; break;
                    case 0xd6: n = 5; break;
                    case 0xd7: n = 9; break;
                    case 0xd8: n = 17; break;
                    case 0xc7: n = BeOr(b, pos, end, 1); pos += 1; if (n >= 0) n += 1; break;
                    case 0xc8: n = BeOr(b, pos, end, 2); pos += 2; if (n >= 0) n += 1; break;
                    case 0xc9: n = BeOr(b, pos, end, 4); pos += 4; if (n >= 0) n += 1; break;
                    case 0xdc: items = BeOr(b, pos, end, 2); pos += 2; break;
                    case 0xdd: items = BeOr(b, pos, end, 4); pos += 4; break;
                    case 0xde: items = BeOr(b, pos, end, 2); pos += 2; if (items >= 0) items *= 2; break;
                    case 0xdf: items = BeOr(b, pos, end, 4); pos += 4; if (items >= 0) items *= 2; break;
                    default: throw new InvalidDataException("msgpack: byte 0xc1 is not a msgpack type");
                }
            if (n < 0 || items < 0 || pos > end) return -1;
            if (end - pos < n) return -1;
            pos += (int)n;
            for (long k = 0; k < items; k++)
            {
                pos = Skip(b, pos, end, depth + 1);
                if (pos < 0) return -1;
            }
            return pos;
        }

        /// <summary>[1, msgid, nil, ...]: the msgid of a successful response, else -1 (pos unchanged).</summary>
        public static long OkResponseId(byte[] b, ref int pos, int end)
        {
            Need(pos, end, 2);
            if (b[pos] != 0x94 || b[pos + 1] != 0x01) return -1;
            int p = pos + 2;
            long id = Int(b, ref p, end);
            Need(p, end, 1);
            if (b[p] != 0xc0) return -1;
            pos = p + 1;
            return id;
        }
    }

    /// <summary>Receives `render` blocks straight from the receive buffer (SoundtrackClient.SendRender).</summary>
    public interface IBlockSink
    {
        /// <summary>On the receive thread, in order: `frames` x `channels` little-endian float32
        /// samples at buf[offset..offset + frames * channels * 4), valid only during the call;
        /// `markers` is null when the block has none (the usual case: nothing is allocated).</summary>
        void OnBlock(long frame, int frames, int channels, byte[] buf, int offset, object[] markers);
    }

    /// <summary>One connection to `soundtrack serve`.</summary>
    public sealed class SoundtrackClient : IDisposable
    {
        /// <summary>
        /// (kind, payload) for each notification, in order, on the client's dispatch thread (not
        /// the receive thread), so a handler may call the client: that call returns when its
        /// response arrives. A call made elsewhere returns only after every notification that
        /// arrived before its response has been handled.
        /// </summary>
        public event Action<string, Dictionary<string, object>> NotificationReceived;

        /// <summary>Raised once, on the receive thread, when the connection ends.</summary>
        public event Action<Exception> Closed;

        /// <summary>An exception a NotificationReceived handler threw (the dispatch goes on).</summary>
        public Exception HandlerError { get; private set; }

        public int TimeoutMs;

        readonly TcpClient tcp;
        readonly NetworkStream stream;
        readonly Thread reader, dispatcher;
        readonly object sendLock = new object();
        readonly object state = new object();  // pending, notes, counters; Monitor.Wait/PulseAll on it
        readonly Dictionary<uint, Pending> pending = new Dictionary<uint, Pending>();
        readonly Stack<Pending> spare = new Stack<Pending>();
        readonly Queue<KeyValuePair<string, Dictionary<string, object>>> notes = new Queue<KeyValuePair<string, Dictionary<string, object>>>();
        readonly byte[] renderRequest = new byte[32];
        long notesReceived, notesDone, receiveAllocated, plainBlockAllocated;
        int nextId;
        volatile Exception failure;

        sealed class Pending
        {
            public object Error, Result;
            public bool Done;
            public long NotesBefore;
            public IBlockSink Sink;
            public long Frame;
            public int Frames;
        }

        SoundtrackClient(TcpClient tcp, int timeoutMs)
        {
            this.tcp = tcp;
            TimeoutMs = timeoutMs;
            tcp.NoDelay = true;
            stream = tcp.GetStream();
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "soundtrack-receive" };
            dispatcher = new Thread(DispatchLoop) { IsBackground = true, Name = "soundtrack-dispatch" };
            reader.Start();
            dispatcher.Start();
        }

        /// <summary>Connect over TCP within `connectTimeoutMs`; throws SocketException or
        /// TimeoutException naming the address when that fails.</summary>
        public static SoundtrackClient Connect(string host = "127.0.0.1", int port = 7700, int timeoutMs = 10000, int connectTimeoutMs = 2000)
        {
            var tcp = new TcpClient();
            try
            {
                var wait = tcp.BeginConnect(host, port, null, null);
                if (!wait.AsyncWaitHandle.WaitOne(connectTimeoutMs))
                    throw new TimeoutException("soundtrack: cannot connect to " + host + ":" + port + " within " + connectTimeoutMs + " ms");
                tcp.EndConnect(wait);
            }
            catch
            {
                tcp.Close();
                throw;
            }
            return new SoundtrackClient(tcp, timeoutMs);
        }

        public bool IsClosed { get { return failure != null; } }

        /// <summary>Bytes the receive thread has allocated in all (markers and notifications cost some).</summary>
        public long ReceiveThreadAllocatedBytes { get { return Interlocked.Read(ref receiveAllocated); } }

        /// <summary>Bytes allocated reading SendRender blocks that carried no markers, from the
        /// socket to the sink (0 once the receive buffer has grown to a block: tests check it).</summary>
        public long PlainBlockAllocatedBytes { get { return Interlocked.Read(ref plainBlockAllocated); } }

        Pending NewPending(IBlockSink sink)
        {
            lock (state)
            {
                var p = spare.Count > 0 ? spare.Pop() : new Pending();
                p.Error = p.Result = null;
                p.Done = false;
                p.Sink = sink;
                return p;
            }
        }

        uint Register(Pending p)
        {
            uint id = (uint)Interlocked.Increment(ref nextId);
            lock (state) pending[id] = p;
            return id;
        }

        void Write(uint id, string method, byte[] bytes, int count)
        {
            try
            {
                lock (sendLock) stream.Write(bytes, 0, count);
            }
            catch (Exception e)
            {
                lock (state) pending.Remove(id);
                throw new IOException("soundtrack: " + method + ": the server closed the connection (" + e.Message + ")", e);
            }
        }

        /// <summary>Send `method` without waiting; returns its msgid for Result().</summary>
        public uint Send(string method, params object[] args)
        {
            var p = NewPending(null);
            uint id = Register(p);
            byte[] bytes = MsgPack.Encode(new object[] { 0, id, method, args ?? new object[0] });
            Write(id, method, bytes, bytes.Length);
            return id;
        }

        /// <summary>
        /// Send `render(frames, "f32")` with no allocation; the block goes to `sink` on the receive
        /// thread, and WaitRender(id) returns its first frame once it has been handed over.
        /// </summary>
        public uint SendRender(int frames, IBlockSink sink)
        {
            var p = NewPending(sink);
            uint id = Register(p);
            lock (sendLock)
            {
                byte[] b = renderRequest;
                int n = 0;
                b[n++] = 0x94; b[n++] = 0x00; b[n++] = 0xce;
                b[n++] = (byte)(id >> 24); b[n++] = (byte)(id >> 16); b[n++] = (byte)(id >> 8); b[n++] = (byte)id;
                b[n++] = 0xa6; foreach (char ch in "render") b[n++] = (byte)ch;
                b[n++] = 0x92; b[n++] = 0xce;
                b[n++] = (byte)(frames >> 24); b[n++] = (byte)(frames >> 16); b[n++] = (byte)(frames >> 8); b[n++] = (byte)frames;
                b[n++] = 0xa3; b[n++] = (byte)'f'; b[n++] = (byte)'3'; b[n++] = (byte)'2';
                try { stream.Write(b, 0, n); }
                catch (Exception e)
                {
                    lock (state) pending.Remove(id);
                    throw new IOException("soundtrack: render: the server closed the connection (" + e.Message + ")", e);
                }
            }
            return id;
        }

        Pending Wait(uint id, string method)
        {
            Pending p;
            lock (state) pending.TryGetValue(id, out p);
            if (p == null) throw new InvalidOperationException("soundtrack: no request " + id + " is waiting");
            bool onDispatcher = Thread.CurrentThread == dispatcher;
            var deadline = DateTime.UtcNow.AddMilliseconds(TimeoutMs);
            lock (state)
            {
                while (!(p.Done && (onDispatcher || notesDone >= p.NotesBefore)))
                {
                    if (failure != null && !p.Done)
                    {
                        pending.Remove(id);
                        throw new IOException("soundtrack: " + method + ": " + failure.Message, failure);
                    }
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                    {
                        pending.Remove(id);
                        throw new TimeoutException("soundtrack: " + method + ": no response within " + TimeoutMs + " ms");
                    }
                    Monitor.Wait(state, left);
                }
                pending.Remove(id);
            }
            return p;
        }

        void Recycle(Pending p)
        {
            lock (state)
            {
                p.Error = p.Result = null;
                p.Sink = null;
                if (spare.Count < 64) spare.Push(p);
            }
        }

        static RemoteException Remote(string method, object error)
        {
            var e = error as Dictionary<string, object>;
            object code = null, message = null;
            if (e != null) { e.TryGetValue("code", out code); e.TryGetValue("message", out message); }
            return new RemoteException(method, code == null ? ErrorCode.InternalError : Convert.ToInt32(code),
                message as string ?? Convert.ToString(error));
        }

        /// <summary>Wait for the response to `id`: its result, or a RemoteException.</summary>
        public object Result(uint id, string method = "call")
        {
            var p = Wait(id, method);
            object error = p.Error, result = p.Result;
            Recycle(p);
            if (error != null) throw Remote(method, error);
            return result;
        }

        /// <summary>Wait for a SendRender block; returns its first output frame.</summary>
        public long WaitRender(uint id)
        {
            var p = Wait(id, "render");
            object error = p.Error;
            long frame = p.Frame;
            Recycle(p);
            if (error != null) throw Remote("render", error);
            return frame;
        }

        /// <summary>Call `method` with positional params; returns the result or throws RemoteException.</summary>
        public object Call(string method, params object[] args)
        {
            return Result(Send(method, args), method);
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
            bool grew = false;
            Exception why = null;
            long allocated0 = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                while (true)
                {
                    if (end == buf.Length)
                    {
                        // keep unread bytes at the front; grow when one message needs more room
                        if (start > 0) { Buffer.BlockCopy(buf, start, buf, 0, end - start); end -= start; start = 0; }
                        else { System.Array.Resize(ref buf, buf.Length * 2); grew = true; }
                    }
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    int n = stream.Read(buf, end, buf.Length - end);
                    markersSeen = false;
                    if (n <= 0) throw new IOException("the server closed the connection");
                    end += n;
                    while (start < end)
                    {
                        int next = Wire.Skip(buf, start, end);
                        if (next < 0) break;  // the rest of this message is still on its way
                        Take(buf, start, next);
                        start = next;
                    }
                    if (start == end) start = end = 0;
                    long after = GC.GetAllocatedBytesForCurrentThread();
                    Interlocked.Exchange(ref receiveAllocated, after - allocated0);
                    if (blocksSeen && !markersSeen && !grew) Interlocked.Add(ref plainBlockAllocated, after - before);
                    blocksSeen = grew = false;
                }
            }
            catch (Exception e)
            {
                why = e;
            }
            lock (state)
            {
                failure = why ?? new IOException("closed");
                Monitor.PulseAll(state);
            }
            var closed = Closed;
            if (closed != null) closed(failure);
        }

        // One whole message from buf[pos..end): filed, or handed to a block sink. Returns the
        // position after it; IncompleteException when it is not all here yet.
        bool markersSeen, blocksSeen;  // receive thread only: what the last read brought

        int Take(byte[] buf, int pos, int end)
        {
            int p = pos;
            long id = Wire.OkResponseId(buf, ref p, end);
            if (id >= 0)
            {
                Pending waiting;
                lock (state) pending.TryGetValue((uint)id, out waiting);
                if (waiting != null && waiting.Sink != null) return TakeBlock(buf, p, end, waiting);
            }
            object msg;
            int next = MsgPack.Decode(buf, pos, end, out msg);
            markersSeen = true;  // anything decoded generically allocates
            Dispatch(msg as object[]);
            return next;
        }

        int TakeBlock(byte[] buf, int p, int end, Pending waiting)
        {
            long frame = 0;
            int frames = 0, channels = 0, pcm = -1, pcmBytes = 0;
            object[] markers = null;
            int n = Wire.MapOrArray(buf, ref p, end, 0x80, 0xde, 0xdf);
            for (int k = 0; k < n; k++)
            {
                int klen = Wire.Raw(buf, ref p, end);
                int key = p;
                p += klen;
                if (Wire.Is(buf, key, klen, "frame")) frame = Wire.Int(buf, ref p, end);
                else if (Wire.Is(buf, key, klen, "frames")) frames = (int)Wire.Int(buf, ref p, end);
                else if (Wire.Is(buf, key, klen, "channels")) channels = (int)Wire.Int(buf, ref p, end);
                else if (Wire.Is(buf, key, klen, "pcm")) { pcmBytes = Wire.Raw(buf, ref p, end); pcm = p; p += pcmBytes; }
                else if (Wire.Is(buf, key, klen, "markers") && p < end && buf[p] == 0x90) p++;  // none: the usual case
                else if (Wire.Is(buf, key, klen, "format")) { int flen = Wire.Raw(buf, ref p, end); p += flen; }  // "f32", as asked
                else
                {
                    object v;
                    p = MsgPack.Decode(buf, p, end, out v);
                    if (Wire.Is(buf, key, klen, "markers")) markers = v as object[];
                }
            }
            if (pcm < 0 || pcmBytes != frames * channels * 4)
                throw new InvalidDataException("soundtrack: a render response without " + frames + " x " + channels + " float32 samples");
            blocksSeen = true;
            if (markers != null) markersSeen = true;
            waiting.Sink.OnBlock(frame, frames, channels, buf, pcm, markers);
            lock (state)
            {
                waiting.Frame = frame;
                waiting.Frames = frames;
                waiting.NotesBefore = notesReceived;
                waiting.Done = true;
                Monitor.PulseAll(state);
            }
            return p;
        }

        void Dispatch(object[] msg)
        {
            if (msg == null || msg.Length < 3) return;
            long type = Convert.ToInt64(msg[0]);
            if (type == 2 && msg.Length == 3)
            {
                var ps = msg[2] as object[];
                var payload = (ps != null && ps.Length == 1 ? ps[0] : msg[2]) as Dictionary<string, object>;
                lock (state)
                {
                    notes.Enqueue(new KeyValuePair<string, Dictionary<string, object>>(msg[1] as string, payload ?? new Dictionary<string, object>()));
                    notesReceived++;
                    Monitor.PulseAll(state);
                }
            }
            else if (type == 1 && msg.Length == 4)
            {
                uint id = (uint)Convert.ToInt64(msg[1]);
                lock (state)
                {
                    Pending p;
                    if (!pending.TryGetValue(id, out p)) return;
                    p.Error = msg[2];
                    p.Result = msg[3];
                    p.NotesBefore = notesReceived;
                    p.Done = true;
                    Monitor.PulseAll(state);
                }
            }
        }

        // Hands notifications to NotificationReceived one at a time, in order, off the receive
        // thread: a handler that calls the client cannot block the responses it waits for.
        void DispatchLoop()
        {
            while (true)
            {
                KeyValuePair<string, Dictionary<string, object>> n;
                lock (state)
                {
                    while (notes.Count == 0)
                    {
                        if (failure != null) return;
                        Monitor.Wait(state);
                    }
                    n = notes.Dequeue();
                }
                try
                {
                    var handler = NotificationReceived;
                    if (handler != null) handler(n.Key, n.Value);
                }
                catch (Exception e)
                {
                    HandlerError = e;
                }
                lock (state)
                {
                    notesDone++;
                    Monitor.PulseAll(state);
                }
            }
        }

        public void Dispose()
        {
            try { tcp.Close(); } catch (Exception) { }
            if (reader.IsAlive && Thread.CurrentThread != reader) reader.Join(1000);
            lock (state)
            {
                if (failure == null) failure = new IOException("the client was closed");
                Monitor.PulseAll(state);
            }
            if (dispatcher.IsAlive && Thread.CurrentThread != dispatcher) dispatcher.Join(1000);
        }
    }
}
