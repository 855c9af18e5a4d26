'use strict';
// Load a bank, start it, post an event and pull audio, as a game's audio thread would.
//   node example.js graphs/dungeon.toml enemy_spotted        (spawns `soundtrack serve --stdio`)
//   SOUNDTRACK_TCP=127.0.0.1:7700 node example.js - enemy_spotted   (a server already running)
const { Client } = require('.');

async function main() {
  const [source = 'graphs/dungeon.toml', event = 'enemy_spotted'] = process.argv.slice(2);
  const python = process.env.PYTHON || 'python3';
  const client = process.env.SOUNDTRACK_TCP
    ? await Client.connectTcp(Number(process.env.SOUNDTRACK_TCP.split(':').pop()), process.env.SOUNDTRACK_TCP.split(':')[0])
    : Client.spawn(python, ['-m', 'soundtrack', 'serve', source, '--stdio']);
  client.on('notification', (kind, p) => console.log(`  ${kind.padEnd(10)} frame ${p.frame} ${p.position || ''} ${p.state || p.to || ''}`));

  const hello = await client.hello({ role: 'controller' });
  console.log(`${hello.server}: ${hello.graph}, ${hello.sample_rate} Hz, ${hello.channels} channels, states ${hello.states.join(', ')}`);
  await client.load();
  await client.subscribe(['bar', 'transition', 'state']);
  const started = await client.start();
  console.log(`started ${started.state} at frame ${started.frame}, ${started.tempo} bpm`);

  const block = 1024;
  let sumSquares = 0;
  let frames = 0;
  for (let i = 0; i < 200; i++) {
    if (i === 50) {
      const plan = await client.event(event);
      console.log(`${event}: ${plan.from} -> ${plan.to} at frame ${plan.edit_frame} (${plan.position})`);
    }
    const b = await client.render(block);
    for (const s of b.pcm) sumSquares += s * s;
    frames += b.frames;
  }
  const rms = Math.sqrt(sumSquares / (frames * 2));
  console.log(`pulled ${frames} frames (${(frames / hello.sample_rate).toFixed(2)} s), RMS ${(20 * Math.log10(rms)).toFixed(1)} dBFS`);
  if (client.process) await client.shutdown();
  client.close();
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
