// The conformance run of the C++ client against a live server (tests/test_integrations.py
// builds it with g++ -std=c++17 and checks what it prints and the audio it writes):
//   ./test_client HOST PORT EVENT SEED PRE_BLOCKS OUT.f32
// Prints one line per fact: hello, error, start, note KIND FRAME, block FRAME FRAMES, plan,
// param, done; writes every pulled sample, as decoded, to OUT.f32 (float32, this host's order).
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "soundtrack_client.hpp"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s HOST PORT EVENT SEED PRE_BLOCKS OUT.f32\n", argv[0]);
    return 2;
  }
  const int block = 1024;
  soundtrack::Client c(argv[1], std::atoi(argv[2]), 20000);
  soundtrack::Value hello = c.hello("controller");
  std::printf("hello protocol=%lld role=%s sample_rate=%lld channels=%lld graph=%s\n", (long long)hello["protocol"].as_int(),
              hello["role"].as_string().c_str(), (long long)hello["sample_rate"].as_int(), (long long)hello["channels"].as_int(),
              hello["graph"].as_string().c_str());
  try {
    c.call("no_such_method");
    std::printf("error none\n");
  } catch (const soundtrack::RemoteError& e) {
    std::printf("error code=%d name=%s\n", e.code, e.code == soundtrack::METHOD_NOT_FOUND ? "METHOD_NOT_FOUND" : "?");
  }
  c.on_notification = [](const std::string& kind, const soundtrack::Value& p) {
    std::printf("note %s %lld\n", kind.c_str(), (long long)p["frame"].as_int());
  };
  c.subscribe({"beat", "bar", "transition", "state"});
  c.load(std::atoll(argv[4]));
  soundtrack::Value started = c.start();
  std::printf("start frame=%lld state=%s\n", (long long)started["frame"].as_int(), started["state"].as_string().c_str());

  std::ofstream out(argv[6], std::ios::binary);
  long long frame = 0;
  auto pull = [&] {
    soundtrack::Block b = c.render(block);
    std::printf("block %lld %lld\n", (long long)b.frame, (long long)b.frames);
    if (b.pcm.size() != static_cast<size_t>(b.frames * b.channels)) throw std::runtime_error("pcm size");
    out.write(reinterpret_cast<const char*>(b.pcm.data()), static_cast<std::streamsize>(b.pcm.size() * sizeof(float)));
    frame += b.frames;
  };
  for (int k = 0; k < std::atoi(argv[5]); ++k) pull();
  soundtrack::Value plan = c.event(argv[3]);
  std::printf("plan accepted=%s posted_frame=%lld edit_frame=%lld from=%s to=%s position=%s\n", plan["accepted"].as_bool() ? "true" : "false",
              (long long)plan["posted_frame"].as_int(), (long long)plan["edit_frame"].as_int(), plan["from"].as_string().c_str(),
              plan["to"].as_string().c_str(), plan["position"].as_string().c_str());
  while (frame < plan["edit_frame"].as_int() + 4 * block) pull();
  out.close();
  soundtrack::Value p = c.set_param("intensity", 0.9);
  std::printf("param frame=%lld end_frame=%lld\n", (long long)p["frame"].as_int(), (long long)p["end_frame"].as_int());
  std::printf("done frames=%lld\n", frame);
  std::fflush(stdout);
  return 0;
}
