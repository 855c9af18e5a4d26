// Re-entrancy, reconnect and the heard clock of the C++ client and Player against a live server
// (tests/test_integrations.py builds it with g++ -std=c++17 -Werror and runs each mode):
//   ./test_cases reentrant HOST PORT SEED EVENT
//   ./test_cases reconnect HOST PORT SEED OUT.f32
//   ./test_cases heard HOST PORT SEED LATENCY_FRAMES OUT.f32
//   ./test_cases latency HOST PORT N          (round trips, for integrations/bench_latency.py)
//   ./test_cases spawn SEED OUT.f32 PROGRAM ARGS...   (the server as a child over stdio)
// The lines printed are the same in every language's version (see tests/test_integrations.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "soundtrack_client.hpp"

using soundtrack::Value;
static const int kBlock = 1024;

static int reentrant(const char* host, int port, long long seed, const std::string& event) {
  soundtrack::Client c(host, port, 5000);
  c.hello("controller");
  long long edit = -1;
  c.on_notification = [&](const std::string& kind, const Value& p) {
    Value s = c.status();  // a call from inside the callback
    std::printf("note %s %lld status=%lld\n", kind.c_str(), (long long)p["frame"].as_int(), (long long)s["frame"].as_int());
    if (kind == "beat" && p["frame"].as_int() == 24000) {
      Value plan = c.event(event);
      edit = plan["edit_frame"].as_int();
      std::printf("nested-plan accepted=%s edit_frame=%lld\n", plan["accepted"].as_bool() ? "true" : "false", edit);
    }
  };
  c.subscribe({"beat", "bar", "transition", "state"});
  c.load(seed);
  c.start();
  long long frame = 0;
  while ((edit < 0 || frame < edit + 4 * kBlock) && frame <= 200000) {
    soundtrack::Block b = c.render(kBlock);
    std::printf("block %lld %lld\n", (long long)b.frame, (long long)b.frames);
    frame += b.frames;
  }
  std::printf("done frames=%lld\n", frame);
  return 0;
}

static int reconnect(const char* host, int port, long long seed, const char* out_path) {
  soundtrack::Client c(host, port, 5000);
  auto begin = [&] { c.hello("controller"); c.load(seed); c.start(); };
  begin();
  for (int k = 0; k < 8; ++k) c.render(kBlock);
  std::printf("ready\n");
  std::fflush(stdout);
  int64_t deadline = soundtrack::Client::now() + 30000;
  for (;;) {
    try {
      c.render(kBlock);
    } catch (const std::exception& e) {
      std::printf("lost %s\n", e.what());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (soundtrack::Client::now() > deadline) { std::printf("never lost\n"); return 1; }
  }
  int tries = 0;
  for (;;) {
    ++tries;
    try {
      c.reconnect();
      begin();
      break;
    } catch (const std::exception&) {
      if (soundtrack::Client::now() > deadline) { std::printf("never reconnected\n"); return 1; }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::printf("reconnected tries=%d\n", tries);
  std::ofstream out(out_path, std::ios::binary);
  for (int k = 0; k < 8; ++k) {
    soundtrack::Block b = c.render(kBlock);
    std::printf("block %lld %lld\n", (long long)b.frame, (long long)b.frames);
    out.write(reinterpret_cast<const char*>(b.pcm.data()), static_cast<std::streamsize>(b.pcm.size() * sizeof(float)));
  }
  std::printf("done\n");
  return 0;
}

// The audio callback, simulated: TICK frames a call, as soon as the ring holds them (a test
// cannot keep real time); the speaker is LATENCY frames behind what read() handed out.
static int heard(const char* host, int port, long long seed, int latency, const char* out_path) {
  const int tick = 256;
  soundtrack::PlayerOptions o;
  o.host = host;
  o.port = port;
  o.seed = seed;
  o.output_latency_frames = latency;
  soundtrack::Player player(o);
  player.start();
  std::vector<float> buf(tick * 2);
  std::ofstream out(out_path, std::ios::binary);
  int64_t speaker = -latency;  // the frame at the speaker once the device has played what it got
  for (int k = 0; k < 600; ++k) {
    int64_t deadline = soundtrack::Client::now() + 10000;
    while (player.buffered_frames() < tick) {
      if (soundtrack::Client::now() > deadline) { std::printf("FAIL no audio\n"); return 1; }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    player.read(buf.data(), tick, 2);
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size() * sizeof(float)));
    speaker += tick;  // handed to the device, LATENCY frames from the speaker
    player.dispatch([&](const std::string& kind, const Value& p) {
      if (p["frame"].is_nil()) return;  // connection news
      std::printf("heard %s %lld speaker=%lld pulled=%lld\n", kind.c_str(), (long long)p["frame"].as_int(), (long long)speaker,
                  (long long)player.pulled_frames());
    });
  }
  std::printf("underruns %lld\n", (long long)player.underruns.load());
  std::printf("done speaker=%lld\n", (long long)speaker);
  player.stop();
  return 0;
}

static void measure(int n, const std::function<void()>& fn, double& p50, double& p99) {
  for (int k = 0; k < 50; ++k) fn();
  std::vector<double> t;
  for (int k = 0; k < n; ++k) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  p50 = t[static_cast<size_t>(n * 0.5)];
  p99 = t[static_cast<size_t>(n * 0.99)];
}

static int latency(const char* host, int port, int n) {
  soundtrack::Client c(host, port, 10000);
  c.hello("controller");
  c.load(1);
  c.start();
  soundtrack::Block b;
  double r50, r99, p50, p99;
  measure(n, [&] { c.take_render(c.send_render(1024), b); }, r50, r99);
  measure(n, [&] { c.ping(1); }, p50, p99);
  std::printf("latency render_p50_us=%.0f render_p99_us=%.0f ping_p50_us=%.0f ping_p99_us=%.0f\n", r50, r99, p50, p99);
  return 0;
}

// The server as a child process over stdio: `./test_cases spawn SEED OUT.f32 PROGRAM ARGS...`
static int spawned(long long seed, const char* out_path, const std::string& program, const std::vector<std::string>& args) {
  auto c = soundtrack::Client::spawn(program, args, 60000);
  Value hello = c->hello("controller");
  std::printf("hello graph=%s sample_rate=%lld\n", hello["graph"].as_string().c_str(), (long long)hello["sample_rate"].as_int());
  c->load(seed);
  c->start();
  std::ofstream out(out_path, std::ios::binary);
  for (int k = 0; k < 8; ++k) {
    soundtrack::Block b = c->render(kBlock);
    std::printf("block %lld %lld\n", (long long)b.frame, (long long)b.frames);
    out.write(reinterpret_cast<const char*>(b.pcm.data()), static_cast<std::streamsize>(b.pcm.size() * sizeof(float)));
  }
  c->close();  // end of input: the server exits, and close() reaps it
  std::printf("done\n");
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "latency") return latency(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  if (argc >= 5 && std::string(argv[1]) == "spawn") {
    try {
      return spawned(std::atoll(argv[2]), argv[3], argv[4], std::vector<std::string>(argv + 5, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "FAIL %s\n", e.what());
      return 1;
    }
  }
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s reentrant|reconnect|heard|latency HOST PORT SEED ...\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  try {
    if (mode == "reentrant") return reentrant(argv[2], std::atoi(argv[3]), std::atoll(argv[4]), argv[5]);
    if (mode == "reconnect") return reconnect(argv[2], std::atoi(argv[3]), std::atoll(argv[4]), argv[5]);
    if (mode == "heard" && argc == 7) return heard(argv[2], std::atoi(argv[3]), std::atoll(argv[4]), std::atoi(argv[5]), argv[6]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
