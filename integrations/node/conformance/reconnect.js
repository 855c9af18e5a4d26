'use strict';
// Reconnecting after the server is killed and started again (tests/test_integrations.py):
//   node conformance/reconnect.js HOST PORT SEED OUT.f32
// Pulls 8 blocks, prints "ready", pulls until the connection drops ("lost MESSAGE"), dials
// again every 50 ms ("reconnected tries=N"), starts a new session and writes its first 8 blocks.
const fs = require('node:fs');
const { Client } = require('..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [host, port, seed, out] = process.argv.slice(2);
  const c = await Client.connectTcp(Number(port), host);
  const begin = async () => { await c.hello({ role: 'controller' }); await c.load({ seed: Number(seed) }); await c.start(); };
  await begin();
  for (let k = 0; k < 8; k++) await c.render(1024);
  console.log('ready');
  const deadline = Date.now() + 30000;
  for (;;) {
    try { await c.render(1024); } catch (e) { console.log(`lost ${e.message}`); break; }
    await sleep(10);
    if (Date.now() > deadline) throw new Error('never lost');
  }
  let tries = 0;
  for (;;) {
    tries++;
    try { await c.reconnect(); await begin(); break; } catch (e) {
      if (Date.now() > deadline) throw new Error(`never reconnected: ${e.message}`);
      await sleep(50);
    }
  }
  console.log(`reconnected tries=${tries}`);
  const parts = [];
  for (let k = 0; k < 8; k++) {
    const b = await c.render(1024);
    console.log(`block ${b.frame} ${b.frames}`);
    parts.push(Buffer.from(b.pcm.buffer, b.pcm.byteOffset, b.pcm.byteLength));
  }
  fs.writeFileSync(out, Buffer.concat(parts));
  console.log('done');
  c.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
