// soundtrack_client.hpp: a header-only C++17 client for `soundtrack serve` (MessagePack-RPC over
// TCP; see docs/protocol.md). POSIX sockets, no dependencies. MIT licence.
//
//   soundtrack::Client c("127.0.0.1", 7700);
//   c.hello("controller"); c.load(); c.start();
//   c.on_notification = [](const std::string& kind, const soundtrack::Value& p) { ... };
//   c.subscribe({"beat", "bar", "transition", "state"});
//   soundtrack::Value plan = c.event("enemy_spotted");     // plan["edit_frame"].as_int()
//   soundtrack::Block b = c.render(1024);                  // b.pcm: std::vector<float>, interleaved
//
// Calls block until their response; notifications that arrive meanwhile go to
// on_notification, in order, before the response that follows them is returned; a callback
// may call the client. One thread at a time per Client. soundtrack::Player (below) is the
// engine side: a pull thread fills a lock-free ring, the audio callback reads it, and markers
// are raised on the game thread when they are heard (see README.md).
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace soundtrack {

// -- values -------------------------------------------------------------------------------------

/// One msgpack value. Maps keep their pairs in order, as items = [k0, v0, k1, v1, ...].
struct Value {
  enum class Type { Nil, Bool, Int, UInt, Float, Str, Bin, Array, Map };
  Type type = Type::Nil;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  std::string s;              // Str and Bin bytes
  std::vector<Value> items;   // Array elements, or Map keys and values interleaved

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool v) : type(Type::Bool), b(v) {}
  Value(int v) : type(Type::Int), i(v) {}
  Value(long v) : type(Type::Int), i(v) {}
  Value(long long v) : type(Type::Int), i(v) {}
  Value(unsigned v) : type(Type::UInt), u(v) {}
  Value(unsigned long v) : type(Type::UInt), u(v) {}
  Value(unsigned long long v) : type(Type::UInt), u(v) {}
  Value(double v) : type(Type::Float), f(v) {}
  Value(const char* v) : type(Type::Str), s(v) {}
  Value(std::string v) : type(Type::Str), s(std::move(v)) {}

  static Value array(std::vector<Value> v = {}) { Value x; x.type = Type::Array; x.items = std::move(v); return x; }
  /// A map from pairs: Value::map({{"event", "enemy"}, {"at_frame", 96000}}).
  static Value map(std::initializer_list<std::pair<const char*, Value>> kv = {}) {
    Value x; x.type = Type::Map;
    for (auto& p : kv) { x.items.emplace_back(p.first); x.items.push_back(p.second); }
    return x;
  }
  static Value bin(std::string bytes) { Value x; x.type = Type::Bin; x.s = std::move(bytes); return x; }

  bool is_nil() const { return type == Type::Nil; }
  size_t size() const { return type == Type::Map ? items.size() / 2 : items.size(); }
  /// Map lookup by string key; a Nil value when absent (or when this is not a map).
  const Value& operator[](const std::string& key) const {
    static const Value nil;
    if (type != Type::Map) return nil;
    for (size_t k = 0; k + 1 < items.size(); k += 2)
      if (items[k].type == Type::Str && items[k].s == key) return items[k + 1];
    return nil;
  }
  const Value& operator[](size_t index) const {
    static const Value nil;
    return type == Type::Array && index < items.size() ? items[index] : nil;
  }
  void set(const std::string& key, Value v) { items.emplace_back(key); items.push_back(std::move(v)); }
  int64_t as_int() const {
    if (type == Type::Int) return i;
    if (type == Type::UInt) return static_cast<int64_t>(u);
    if (type == Type::Float) return static_cast<int64_t>(f);
    throw std::runtime_error("soundtrack: value is not a number");
  }
  double as_double() const { return type == Type::Float ? f : static_cast<double>(as_int()); }
  bool as_bool() const { return type == Type::Bool ? b : false; }
  const std::string& as_string() const {
    if (type != Type::Str && type != Type::Bin) throw std::runtime_error("soundtrack: value is not a string");
    return s;
  }
};

// -- msgpack ------------------------------------------------------------------------------------

namespace msgpack {

inline void put_be(std::string& out, uint64_t v, int bytes) {
  for (int k = bytes - 1; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
}

inline void put_len(std::string& out, size_t n, uint8_t fix, uint8_t fix_limit, uint8_t t8, uint8_t t16, uint8_t t32) {
  if (fix_limit && n < fix_limit) out.push_back(static_cast<char>(fix + n));
  else if (t8 && n < 256) { out.push_back(static_cast<char>(t8)); put_be(out, n, 1); }
  else if (n < 65536) { out.push_back(static_cast<char>(t16)); put_be(out, n, 2); }
  else { out.push_back(static_cast<char>(t32)); put_be(out, n, 4); }
}

inline void encode(const Value& v, std::string& out) {
  using T = Value::Type;
  switch (v.type) {
    case T::Nil: out.push_back('\xc0'); break;
    case T::Bool: out.push_back(v.b ? '\xc3' : '\xc2'); break;
    case T::UInt:
      if (v.u <= INT64_MAX) { encode(Value(static_cast<long long>(v.u)), out); break; }
      out.push_back('\xcf'); put_be(out, v.u, 8); break;
    case T::Int: {
      int64_t x = v.i;
      if (x >= 0) {
        if (x < 128) out.push_back(static_cast<char>(x));
        else if (x < 256) { out.push_back('\xcc'); put_be(out, x, 1); }
        else if (x < 65536) { out.push_back('\xcd'); put_be(out, x, 2); }
        else if (x < 4294967296LL) { out.push_back('\xce'); put_be(out, x, 4); }
        else { out.push_back('\xcf'); put_be(out, x, 8); }
      } else if (x >= -32) out.push_back(static_cast<char>(x));
      else if (x >= -128) { out.push_back('\xd0'); put_be(out, static_cast<uint64_t>(x), 1); }
      else if (x >= -32768) { out.push_back('\xd1'); put_be(out, static_cast<uint64_t>(x), 2); }
      else if (x >= INT32_MIN) { out.push_back('\xd2'); put_be(out, static_cast<uint64_t>(x), 4); }
      else { out.push_back('\xd3'); put_be(out, static_cast<uint64_t>(x), 8); }
      break;
    }
    case T::Float: {
      uint64_t bits;
      std::memcpy(&bits, &v.f, 8);
      out.push_back('\xcb'); put_be(out, bits, 8); break;
    }
    case T::Str: put_len(out, v.s.size(), 0xa0, 32, 0xd9, 0xda, 0xdb); out += v.s; break;
    case T::Bin: put_len(out, v.s.size(), 0, 0, 0xc4, 0xc5, 0xc6); out += v.s; break;
    case T::Array:
      put_len(out, v.items.size(), 0x90, 16, 0, 0xdc, 0xdd);
      for (const auto& x : v.items) encode(x, out);
      break;
    case T::Map:
      put_len(out, v.items.size() / 2, 0x80, 16, 0, 0xde, 0xdf);
      for (const auto& x : v.items) encode(x, out);
      break;
  }
}

/// Thrown by decode when the bytes end inside a value: read more, then decode again.
struct Incomplete {};

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  size_t pos() const { return pos_; }

  Value value(int depth = 0) {
    if (depth > 64) throw std::runtime_error("msgpack: nested deeper than 64");
    uint8_t t = take(1)[0];
    if (t < 0x80) return Value(static_cast<long long>(t));
    if (t >= 0xe0) return Value(static_cast<long long>(static_cast<int8_t>(t)));
    if (t < 0x90) return map(t & 0x0f, depth);
    if (t < 0xa0) return array(t & 0x0f, depth);
    if (t < 0xc0) return str(t & 0x1f);
    switch (t) {
      case 0xc0: return Value();
      case 0xc2: return Value(false);
      case 0xc3: return Value(true);
      case 0xc4: return Value::bin(raw(be(1)));
      case 0xc5: return Value::bin(raw(be(2)));
      case 0xc6: return Value::bin(raw(be(4)));
      case 0xca: { uint32_t bits = static_cast<uint32_t>(be(4)); float x; std::memcpy(&x, &bits, 4); return Value(static_cast<double>(x)); }
      case 0xcb: { uint64_t bits = be(8); double x; std::memcpy(&x, &bits, 8); return Value(x); }
      case 0xcc: return Value(static_cast<long long>(be(1)));
      case 0xcd: return Value(static_cast<long long>(be(2)));
      case 0xce: return Value(static_cast<long long>(be(4)));
      case 0xcf: { uint64_t x = be(8); return x <= INT64_MAX ? Value(static_cast<long long>(x)) : Value(static_cast<unsigned long long>(x)); }
      case 0xd0: return Value(static_cast<long long>(static_cast<int8_t>(be(1))));
      case 0xd1: return Value(static_cast<long long>(static_cast<int16_t>(be(2))));
      case 0xd2: return Value(static_cast<long long>(static_cast<int32_t>(be(4))));
      case 0xd3: return Value(static_cast<long long>(be(8)));
      case 0xd9: return str(be(1));
      case 0xda: return str(be(2));
      case 0xdb: return str(be(4));
      case 0xdc: return array(be(2), depth);
      case 0xdd: return array(be(4), depth);
      case 0xde: return map(be(2), depth);
      case 0xdf: return map(be(4), depth);
      // ext types: skipped (the protocol sends none)
      case 0xd4: take(2); return Value();
      case 0xd5: take(3); return Value();
      case 0xd6: take(5); return Value();
      case 0xd7: take(9); return Value();
      case 0xd8: take(17); return Value();
      case 0xc7: take(be(1) + 1); return Value();
      case 0xc8: take(be(2) + 1); return Value();
      case 0xc9: take(be(4) + 1); return Value();
      default: throw std::runtime_error("msgpack: byte 0xc1 is not a msgpack type");
    }
  }

 private:
  const uint8_t* take(size_t k) {
    if (n_ - pos_ < k) throw Incomplete{};
    const uint8_t* at = p_ + pos_;
    pos_ += k;
    return at;
  }
  uint64_t be(int k) {
    const uint8_t* b = take(k);
    uint64_t v = 0;
    for (int j = 0; j < k; ++j) v = (v << 8) | b[j];
    return v;
  }
  std::string raw(uint64_t k) { const uint8_t* b = take(k); return std::string(reinterpret_cast<const char*>(b), k); }
  Value str(uint64_t k) { return Value(raw(k)); }
  Value array(uint64_t k, int depth) {
    Value v = Value::array();
    for (uint64_t j = 0; j < k; ++j) v.items.push_back(value(depth + 1));
    return v;
  }
  Value map(uint64_t k, int depth) {
    Value v = Value::map();
    for (uint64_t j = 0; j < 2 * k; ++j) v.items.push_back(value(depth + 1));
    return v;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

}  // namespace msgpack

// -- client -------------------------------------------------------------------------------------

/// The error codes of docs/protocol.md.
enum ErrorCode : int {
  PARSE_ERROR = -32700, MESSAGE_TOO_LARGE = -32701, INVALID_REQUEST = -32600,
  METHOD_NOT_FOUND = -32601, INVALID_PARAMS = -32602, INTERNAL_ERROR = -32603,
  OUT_OF_RANGE = 1, NOT_LOADED = 2, NOT_CONTROLLER = 3, UNAUTHORIZED = 4,
  REJECTED = 5, WRONG_MODE = 6, BUSY = 7,
};

/// An error response: `code` (an ErrorCode), the method, and the server's message.
struct RemoteError : std::runtime_error {
  RemoteError(std::string method, int code, const std::string& message)
      : std::runtime_error(method + ": error " + std::to_string(code) + ": " + message),
        method(std::move(method)), code(code), remote_message(message) {}
  std::string method;
  int code;
  std::string remote_message;
};

/// One pulled block: `pcm` holds frames * channels interleaved float samples in -1..1.
struct Block {
  int64_t frame = 0;
  int64_t frames = 0;
  int channels = 0;
  std::vector<float> pcm;
  Value markers;
};

class Client {
 public:
  /// Connect over TCP; throws std::runtime_error naming the address when that fails.
  Client(const std::string& host = "127.0.0.1", int port = 7700, int timeout_ms = 10000)
      : host_(host), port_(port), timeout_ms_(timeout_ms) {
    fd_ = wfd_ = dial(host_, port_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(); }

  /// Start `program args...` (the bundled server: `soundtrack/soundtrack serve BANK --stdio`) as
  /// a child process and talk to it over its stdin and stdout; its stderr is the game's. The
  /// child ends when the client closes its stdin (close() or the destructor), and is reaped.
  static std::unique_ptr<Client> spawn(const std::string& program, const std::vector<std::string>& args, int timeout_ms = 10000) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0) throw std::runtime_error(std::string("soundtrack: pipe: ") + std::strerror(errno));
    if (::pipe(from_child) != 0) {
      ::close(to_child[0]); ::close(to_child[1]);
      throw std::runtime_error(std::string("soundtrack: pipe: ") + std::strerror(errno));
    }
    std::vector<std::string> all{program};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("soundtrack: fork: ") + std::strerror(errno));
    if (pid == 0) {  // the child: stdin and stdout are the pipes
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[0]); ::close(to_child[1]); ::close(from_child[0]); ::close(from_child[1]);
      ::execvp(program.c_str(), argv.data());
      std::fprintf(stderr, "soundtrack: cannot start %s: %s\n", program.c_str(), std::strerror(errno));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    std::unique_ptr<Client> c(new Client(from_child[0], to_child[1], timeout_ms));
    c->child_ = pid;
    return c;
  }

  /// Called with (kind, payload) for each notification, on the thread making a call or poll().
  /// It may call the client (post an event on a bar): that call returns its result at once, and
  /// notifications read meanwhile wait, in order, until the callback has returned.
  std::function<void(const std::string&, const Value&)> on_notification;

  /// Send a request without waiting; returns its msgid (see result()). Keeping a few `render`
  /// requests in flight overlaps the round trip with the server's work.
  uint32_t send(const std::string& method, Value params = Value::array()) {
    uint32_t id = ++next_id_;
    std::string bytes;
    msgpack::encode(Value::array({Value(0), Value(static_cast<unsigned long long>(id)), Value(method), std::move(params)}), bytes);
    send_all(bytes);
    return id;
  }

  /// Wait for the response to `id`: the result, or a RemoteError. Notifications that arrived
  /// before the response go to on_notification first.
  Value result(uint32_t id, const std::string& method = "call") {
    auto deadline = now_ms() + timeout_ms_;
    for (;;) {
      auto it = responses_.find(id);
      if (it != responses_.end()) {
        Response r = std::move(it->second);
        responses_.erase(it);
        dispatch(r.seq);
        if (!r.error.is_nil()) {
          int code = r.error["code"].is_nil() ? INTERNAL_ERROR : static_cast<int>(r.error["code"].as_int());
          throw RemoteError(method, code, r.error["message"].type == Value::Type::Str ? r.error["message"].s : "");
        }
        return std::move(r.result);
      }
      dispatch(UINT64_MAX);
      int64_t left = deadline - now_ms();
      if (left <= 0) throw std::runtime_error("soundtrack: " + method + ": no response within " + std::to_string(timeout_ms_) + " ms");
      read(static_cast<int>(left));
    }
  }

  /// Send `method` with `params` (an array) and wait for the result; throws RemoteError.
  Value call(const std::string& method, Value params = Value::array()) { return result(send(method, std::move(params)), method); }

  /// Hand notifications that have arrived to on_notification, waiting at most `wait_ms`.
  void poll(int wait_ms = 0) {
    read(wait_ms);
    dispatch(UINT64_MAX);
  }

  /// Dial the same address again after the server went away or restarted (throws like the
  /// constructor). Requests in flight are lost; the new server has a new session.
  void reconnect() {
    close();
    buf_.clear();
    pos_ = 0;
    inbox_.clear();
    responses_.clear();
    if (host_.empty()) throw std::runtime_error("soundtrack: reconnect: a spawned server cannot be dialled; spawn it again");
    fd_ = wfd_ = dial(host_, port_);
  }

  bool connected() const { return fd_ >= 0; }

  Value hello(const std::string& role = "controller", const std::string& token = "") {
    Value named = Value::map({{"role", role}, {"version", 1}, {"client", "soundtrack-cpp"}});
    if (!token.empty()) named.set("token", token);
    return call("hello", Value::array({named}));
  }
  Value load(long long seed = -1, const std::string& path = "") {
    Value named = Value::map();
    if (seed >= 0) named.set("seed", seed);
    if (!path.empty()) named.set("path", path);
    return call("load", named.size() ? Value::array({named}) : Value::array());
  }
  Value start(const std::string& state = "") { return call("start", state.empty() ? Value::array() : Value::array({state})); }
  /// Post a game event; the result is the plan (edit_frame, position, from, to, ...).
  Value event(const std::string& name, long long at_frame = -1) {
    Value named = Value::map({{"event", name}});
    if (at_frame >= 0) named.set("at_frame", at_frame);
    return call("event", Value::array({named}));
  }
  Value set_param(const std::string& name, double value) { return call("set_param", Value::array({name, value})); }
  Value set_param(const std::string& name, double value, Value ramp) { return call("set_param", Value::array({name, value, std::move(ramp)})); }
  Value subscribe(std::vector<std::string> kinds = {}) { return call("subscribe", kinds_param(kinds)); }
  Value unsubscribe(std::vector<std::string> kinds = {}) { return call("unsubscribe", kinds_param(kinds)); }
  Value status() { return call("status"); }
  Value stop() { return call("stop"); }
  Value shutdown() { return call("shutdown"); }
  Value ping(Value payload) { return call("ping", Value::array({std::move(payload)})); }

  /// The next `frames` frames as float samples (decoded from the little-endian f32 `bin`).
  Block render(int frames) {
    Block b;
    decode_block(call("render", Value::array({frames, "f32"})), b);
    return b;
  }
  /// Pipelined render: send_render() now, take_render(id, block) later (reuses block's storage).
  uint32_t send_render(int frames) { return send("render", Value::array({frames, "f32"})); }
  void take_render(uint32_t id, Block& b) { decode_block(result(id, "render"), b); }

  static void decode_block(const Value& r, Block& b) {
    b.frame = r["frame"].as_int();
    b.frames = r["frames"].as_int();
    b.channels = static_cast<int>(r["channels"].as_int());
    const std::string& bytes = r["pcm"].as_string();
    b.pcm.resize(bytes.size() / 4);
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    for (size_t k = 0; k < b.pcm.size(); ++k) {
      uint32_t bits = uint32_t(p[4 * k]) | uint32_t(p[4 * k + 1]) << 8 | uint32_t(p[4 * k + 2]) << 16 | uint32_t(p[4 * k + 3]) << 24;
      std::memcpy(&b.pcm[k], &bits, 4);
    }
    b.markers = r["markers"];
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    if (wfd_ >= 0 && wfd_ != fd_) ::close(wfd_);
    fd_ = wfd_ = -1;
    if (child_ > 0) {  // end of input: the server finishes what it has and exits
      int status = 0;
      ::waitpid(child_, &status, 0);
      child_ = -1;
    }
  }

  /// Milliseconds on a monotonic clock.
  static int64_t now() { return now_ms(); }

 private:
  struct Response {
    uint64_t seq = 0;
    Value error, result;
  };
  struct Note {
    uint64_t seq = 0;
    std::string kind;
    Value payload;
  };

  Client(int read_fd, int write_fd, int timeout_ms) : port_(0), fd_(read_fd), wfd_(write_fd), timeout_ms_(timeout_ms) {}

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  static int dial(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
      throw std::runtime_error("soundtrack: cannot resolve " + host);
    int fd = -1, err = 0;
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
      err = errno;
      ::close(fd);
      fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) throw std::runtime_error("soundtrack: cannot connect to " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }

  static Value kinds_param(const std::vector<std::string>& kinds) {
    if (kinds.empty()) return Value::array();
    Value list = Value::array();
    for (const auto& k : kinds) list.items.emplace_back(k);
    return Value::array({list});
  }

  // Hand queued notifications that arrived before message `before` to on_notification, each
  // taken off the queue first; never from inside a callback (the outer loop carries on).
  void dispatch(uint64_t before) {
    if (dispatching_) return;
    dispatching_ = true;
    try {
      while (!inbox_.empty() && inbox_.front().seq < before) {
        Note n = std::move(inbox_.front());
        inbox_.pop_front();
        if (on_notification) on_notification(n.kind, n.payload);
      }
    } catch (...) {
      dispatching_ = false;
      throw;
    }
    dispatching_ = false;
  }

  void send_all(const std::string& bytes) {
    if (fd_ < 0) throw std::runtime_error("soundtrack: connection closed");
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = wfd_ == fd_ ? ::send(wfd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL) : write_pipe(bytes.data() + sent, bytes.size() - sent);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::string why = std::strerror(errno);
        close();
        throw std::runtime_error("soundtrack: the server closed the connection (send: " + why + ")");
      }
      sent += static_cast<size_t>(n);
    }
  }

  // write() to the child's stdin without the SIGPIPE a dead child would raise in the game.
  ssize_t write_pipe(const char* data, size_t size) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = ::write(wfd_, data, size);
    int err = errno;
    if (n < 0 && err == EPIPE) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);  // take the pending SIGPIPE away
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return n;
  }

  // Wait up to timeout_ms for bytes, then file every whole message: responses by msgid,
  // notifications in order.
  void read(int timeout_ms) {
    if (fd_ < 0) throw std::runtime_error("soundtrack: connection closed");
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r <= 0) return;
    char chunk[65536];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) { close(); throw std::runtime_error("soundtrack: the server closed the connection"); }
    if (pos_ > 0) { buf_.erase(0, pos_); pos_ = 0; }
    buf_.append(chunk, static_cast<size_t>(n));
    for (;;) {
      if (pos_ >= buf_.size()) { buf_.clear(); pos_ = 0; break; }
      msgpack::Decoder d(reinterpret_cast<const uint8_t*>(buf_.data()) + pos_, buf_.size() - pos_);
      Value msg;
      try {
        msg = d.value();
      } catch (const msgpack::Incomplete&) {
        break;
      }
      pos_ += d.pos();
      ++seq_;
      if (msg.type != Value::Type::Array || msg.size() < 3) continue;
      int64_t type = msg[0].as_int();
      if (type == 2) {
        const Value& params = msg[2];
        inbox_.push_back(Note{seq_, msg[1].as_string(), params.type == Value::Type::Array && params.size() == 1 ? params[0] : params});
      } else if (type == 1 && msg.size() == 4) {
        responses_[static_cast<uint32_t>(msg[1].as_int())] = Response{seq_, msg[2], msg[3]};
      }
    }
  }

  std::string host_;
  int port_;
  int fd_ = -1;   // read from (the socket, or the child's stdout)
  int wfd_ = -1;  // write to (the socket, or the child's stdin)
  pid_t child_ = -1;
  int timeout_ms_;
  uint32_t next_id_ = 0;
  uint64_t seq_ = 0;
  bool dispatching_ = false;
  std::string buf_;
  size_t pos_ = 0;
  std::deque<Note> inbox_;
  std::map<uint32_t, Response> responses_;
};

// -- player: the engine side ---------------------------------------------------------------------

struct PlayerOptions {
  std::string host = "127.0.0.1";
  int port = 7700;
  int block_frames = 1024;        // frames per render request
  int buffer_blocks = 4;          // ring capacity in blocks: the latency from an event to the sound
  int in_flight = 2;              // render requests outstanding (overlaps the round trip)
  long long seed = -1;            // -1: the graph's
  std::string start_state;        // empty: the graph's start state
  int output_latency_frames = 0;  // the device's own buffering after read() (what it reports)
  int retry_ms = 500;             // reconnect interval while the server is away
  int timeout_ms = 2000;          // a call the pull thread makes
};

/// Plays `soundtrack serve` in an engine. A pull thread (the only one touching the socket)
/// connects, loads, starts, keeps `buffer_blocks` blocks in a lock-free single-producer ring,
/// runs the events you post, and reconnects when the server goes away. The audio callback calls
/// read() (no locks, no allocation, never waits: silence and `underruns` when the ring is short).
/// The game thread calls dispatch(): markers come out when their frame is *heard* (the frames
/// read() handed out minus output_latency_frames), plans when the server answered.
class Player {
 public:
  using Handler = std::function<void(const std::string& kind, const Value& payload)>;

  explicit Player(PlayerOptions o) : o_(std::move(o)) {}
  Player(const std::string& host, int port) : o_(with_address(host, port)) {}
  Player(const Player&) = delete;
  Player& operator=(const Player&) = delete;
  ~Player() { stop(); }

  void start() {
    running_ = true;
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  /// Audio thread: `frames` x `out_channels` interleaved floats. Stereo goes to the first two
  /// channels (the rest are silent: the music is not a surround mix), mono output gets (L+R)/2.
  void read(float* out, int frames, int out_channels) {
    int ch = channels_.load(std::memory_order_acquire);
    int64_t r = read_.load(std::memory_order_relaxed);
    int64_t avail = ch ? write_.load(std::memory_order_acquire) - r : 0;
    int n = static_cast<int>(std::min<int64_t>(frames, avail));
    const int64_t cap = capacity_;
    for (int f = 0; f < n; ++f) {
      const float* src = &ring_[static_cast<size_t>(((r + f) % cap) * ch)];
      float* dst = out + static_cast<size_t>(f) * out_channels;
      if (out_channels == 1) { dst[0] = ch > 1 ? 0.5f * (src[0] + src[1]) : src[0]; continue; }
      for (int c = 0; c < out_channels; ++c) dst[c] = c < 2 ? src[ch > 1 ? c : 0] : 0.0f;
    }
    if (n < frames) {
      std::fill(out + static_cast<size_t>(n) * out_channels, out + static_cast<size_t>(frames) * out_channels, 0.0f);
      if (ch) underruns.fetch_add(1, std::memory_order_relaxed);
    }
    read_.store(r + n, std::memory_order_release);
    played_.fetch_add(frames, std::memory_order_relaxed);
  }

  /// Game thread: raise what is due: each marker once its frame is heard (kind, payload), and
  /// "plan" (the event's plan), "lost" and "connected" ({message}) as they happen.
  void dispatch(const Handler& fn) {
    int64_t heard = read_.load(std::memory_order_acquire) - o_.output_latency_frames;
    std::deque<Due> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!due_.empty() && due_.front().ring_frame <= heard) { ready.push_back(std::move(due_.front())); due_.pop_front(); }
    }
    for (auto& d : ready) fn(d.kind, d.payload);
  }

  /// Post a game event (from any thread): sent by the pull thread before its next render; the
  /// plan comes back through dispatch() as kind "plan". Never waits on the network.
  void post_event(const std::string& name) { command("event", Value::array({Value::map({{"event", name}})})); }
  void set_param(const std::string& name, double value) { command("set_param", Value::array({name, value})); }
  /// Any method, run by the pull thread; its result comes back through dispatch() as `kind`.
  void command(const std::string& method, Value params, const std::string& kind = "") {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(Command{method, std::move(params), kind.empty() ? (method == "event" ? "plan" : method) : kind});
  }

  /// The session frame being heard now (markers carry session frames), -1 before any sound.
  int64_t heard_frame() const {
    int64_t o = offset_.load(std::memory_order_acquire);
    return o == INT64_MIN ? -1 : read_.load(std::memory_order_acquire) - o_.output_latency_frames - o;
  }
  /// Frames the pull thread has put in the ring (all sessions), and frames read() handed out.
  int64_t pulled_frames() const { return write_.load(std::memory_order_acquire); }
  int64_t played_frames() const { return played_.load(std::memory_order_relaxed); }
  int64_t buffered_frames() const { return write_.load(std::memory_order_acquire) - read_.load(std::memory_order_acquire); }
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  int sample_rate() const { return rate_.load(std::memory_order_acquire); }

  std::atomic<int64_t> underruns{0};

 private:
  struct Due {
    int64_t ring_frame;
    std::string kind;
    Value payload;
  };
  struct Command {
    std::string method;
    Value params;
    std::string kind;
  };

  static PlayerOptions with_address(const std::string& host, int port) {
    PlayerOptions o;
    o.host = host;
    o.port = port;
    return o;
  }

  void emit(int64_t ring_frame, std::string kind, Value payload) {
    std::lock_guard<std::mutex> lock(mu_);
    // markers are due in frame order; plans and connection news at once (frame INT64_MIN)
    auto at = due_.end();
    while (at != due_.begin() && std::prev(at)->ring_frame > ring_frame) --at;
    due_.insert(at, Due{ring_frame, std::move(kind), std::move(payload)});
  }

  void session(Client& c) {
    Value hello = c.hello("controller");
    int ch = static_cast<int>(hello["channels"].as_int());
    rate_.store(static_cast<int>(hello["sample_rate"].as_int()), std::memory_order_release);
    if (channels_.load() == 0) {  // the ring is allocated once, before the audio thread reads it
      capacity_ = static_cast<int64_t>(o_.block_frames) * o_.buffer_blocks;
      ring_.assign(static_cast<size_t>(capacity_ * ch), 0.0f);
      channels_.store(ch, std::memory_order_release);
    }
    c.load(o_.seed);
    c.start(o_.start_state);
    offset_.store(INT64_MIN, std::memory_order_release);
  }

  void run() {
    std::unique_ptr<Client> c;
    std::deque<uint32_t> flight;
    Block b;
    int64_t next_try = 0;
    std::string lost_why;
    while (running_) {
      try {
        if (!c) {
          if (Client::now() < next_try) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); continue; }
          next_try = Client::now() + o_.retry_ms;
          c.reset(new Client(o_.host, o_.port, o_.timeout_ms));
          session(*c);
          flight.clear();
          connected_.store(true, std::memory_order_release);
          emit(INT64_MIN, "connected", Value::map({{"message", lost_why}}));
        }
        std::deque<Command> todo;
        {
          std::lock_guard<std::mutex> lock(mu_);
          todo.swap(commands_);
        }
        for (auto& cmd : todo) {
          // answered after the renders already in flight (responses come back in order)
          Value r = c->call(cmd.method, std::move(cmd.params));
          emit(INT64_MIN, cmd.kind, std::move(r));
        }
        int64_t room = capacity_ - buffered_frames() - static_cast<int64_t>(flight.size()) * o_.block_frames;
        while (room >= o_.block_frames && static_cast<int>(flight.size()) < o_.in_flight) {
          flight.push_back(c->send_render(o_.block_frames));
          room -= o_.block_frames;
        }
        if (flight.empty()) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); continue; }
        c->take_render(flight.front(), b);
        flight.pop_front();
        write_block(b);
      } catch (const std::exception& e) {
        c.reset();
        if (connected_.exchange(false)) {
          lost_why = e.what();
          emit(INT64_MIN, "lost", Value::map({{"message", lost_why}}));
        }
      }
    }
  }

  void write_block(const Block& b) {
    int ch = channels_.load(std::memory_order_relaxed);
    int64_t w = write_.load(std::memory_order_relaxed);
    if (offset_.load(std::memory_order_relaxed) == INT64_MIN) offset_.store(w - b.frame, std::memory_order_release);
    for (int64_t f = 0; f < b.frames; ++f)
      std::memcpy(&ring_[static_cast<size_t>(((w + f) % capacity_) * ch)], &b.pcm[static_cast<size_t>(f * b.channels)], sizeof(float) * ch);
    int64_t start = w - b.frame;  // ring frame of session frame 0 for this block
    for (size_t k = 0; k < b.markers.size(); ++k) {
      const Value& m = b.markers[k];
      emit(start + m["frame"].as_int(), m["kind"].type == Value::Type::Str ? m["kind"].s : "marker", m);
    }
    write_.store(w + b.frames, std::memory_order_release);
  }

  PlayerOptions o_;
  std::thread thread_;
  std::atomic<bool> running_{false}, connected_{false};
  std::atomic<int> channels_{0}, rate_{0};
  std::atomic<int64_t> read_{0}, write_{0}, played_{0}, offset_{INT64_MIN};
  int64_t capacity_ = 0;
  std::vector<float> ring_;
  std::mutex mu_;
  std::deque<Due> due_;
  std::deque<Command> commands_;
};

}  // namespace soundtrack
