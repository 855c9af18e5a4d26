'use strict';
// MarkerClock raises markers when they are heard (tests/test_integrations.py runs it):
//   node conformance/heard.js HOST PORT SEED LATENCY_FRAMES
// A stand-in for an audio output plays TICK frames per callback from a queue of 4 pulled
// blocks (2 render requests in flight); the speaker is LATENCY_FRAMES behind what it played.
// Each marker prints: heard KIND FRAME speaker=FRAME pulled=FRAME.
const { Client, MarkerClock } = require('..');

async function main() {
  const [host, port, seed, latencyArg] = process.argv.slice(2);
  const latency = Number(latencyArg);
  const TICK = 256;
  const c = await Client.connectTcp(Number(port), host);
  await c.hello({ role: 'controller' });
  await c.load({ seed: Number(seed) });
  await c.start();
  const clock = new MarkerClock();
  let played = 0;
  let pulled = 0;
  clock.on('marker', (kind, m) => console.log(`heard ${kind} ${m.frame} speaker=${played - latency} pulled=${pulled}`));
  const inFlight = [c.render(1024), c.render(1024)];
  let queued = 0;
  for (let tick = 0; tick < 600; tick++) {
    while (queued - played < 4 * 1024) {  // keep 4 blocks queued ahead of the output
      const b = await inFlight.shift();
      inFlight.push(c.render(1024));
      clock.push(b);
      queued += b.frames;
      pulled = queued;
    }
    played += TICK;                   // the output callback took TICK frames
    clock.advance(played - latency);  // ... and the speaker is `latency` behind it
  }
  await Promise.all(inFlight);
  console.log(`done speaker=${played - latency}`);
  c.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
