// Pull 8 seconds of music from `soundtrack serve`, post an event after 2 s, and write a WAV.
//   soundtrack serve graphs/dungeon.toml --tcp 127.0.0.1:7700 &
//   g++ -std=c++17 -O2 -o example example.cpp && ./example 127.0.0.1 7700 enemy_spotted out.wav
// In an engine, the render loop below lives in the audio thread's callback (see README.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "soundtrack_client.hpp"

static void put32(std::ofstream& f, uint32_t v) { for (int k = 0; k < 4; ++k) f.put(static_cast<char>(v >> (8 * k))); }
static void put16(std::ofstream& f, uint16_t v) { f.put(static_cast<char>(v)); f.put(static_cast<char>(v >> 8)); }

int main(int argc, char** argv) {
  const std::string host = argc > 1 ? argv[1] : "127.0.0.1";
  const int port = argc > 2 ? std::atoi(argv[2]) : 7700;
  const std::string event = argc > 3 ? argv[3] : "enemy_spotted";
  const std::string path = argc > 4 ? argv[4] : "soundtrack.wav";
  try {
    soundtrack::Client music(host, port);
    soundtrack::Value hello = music.hello("controller");
    music.load();
    music.on_notification = [](const std::string& kind, const soundtrack::Value& p) {
      if (kind == "transition")
        std::printf("transition %s -> %s at frame %lld\n", p["from"].as_string().c_str(), p["to"].as_string().c_str(), (long long)p["frame"].as_int());
      else if (kind == "bar")
        std::printf("bar %lld of %s at frame %lld\n", (long long)p["bar"].as_int(), p["state"].as_string().c_str(), (long long)p["frame"].as_int());
    };
    music.subscribe({"bar", "transition"});
    music.start();

    const int rate = static_cast<int>(hello["sample_rate"].as_int());
    const int channels = static_cast<int>(hello["channels"].as_int());
    std::vector<int16_t> pcm;
    for (long long frame = 0; frame < 8LL * rate;) {
      if (frame == 2LL * rate / 1024 * 1024) {
        soundtrack::Value plan = music.event(event);
        std::printf("%s: %s -> %s at frame %lld (%s)\n", event.c_str(), plan["from"].as_string().c_str(),
                    plan["to"].as_string().c_str(), (long long)plan["edit_frame"].as_int(), plan["position"].as_string().c_str());
      }
      soundtrack::Block b = music.render(1024);
      for (float s : b.pcm) pcm.push_back(static_cast<int16_t>(s * 32767.0f));
      frame += b.frames;
    }

    std::ofstream f(path, std::ios::binary);
    f.write("RIFF", 4); put32(f, 36 + pcm.size() * 2); f.write("WAVEfmt ", 8);
    put32(f, 16); put16(f, 1); put16(f, channels); put32(f, rate); put32(f, rate * channels * 2); put16(f, channels * 2); put16(f, 16);
    f.write("data", 4); put32(f, pcm.size() * 2);
    for (int16_t s : pcm) put16(f, static_cast<uint16_t>(s));
    std::printf("wrote %s: %zu frames\n", path.c_str(), pcm.size() / channels);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
