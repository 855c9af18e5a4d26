'use strict';
// Re-entrancy of the Node client (tests/test_integrations.py runs it):
//   node conformance/reentrant.js HOST PORT SEED EVENT
// Every notification listener calls status(); the listener of the beat at frame 24000 posts
// EVENT. Prints: note KIND FRAME status=FRAME, nested-plan ..., block FRAME FRAMES, done.
const { Client } = require('..');

async function main() {
  const [host, port, seed, event] = process.argv.slice(2);
  const c = await Client.connectTcp(Number(port), host);
  await c.hello({ role: 'controller', client: 'node-reentrant' });
  let edit = -1;
  let nested = [];  // the calls made by listeners for the block being pulled, in order
  c.on('notification', (kind, p) => {
    nested.push((async () => {
      const s = await c.status();
      const lines = [`note ${kind} ${p.frame} status=${s.frame}`];
      if (kind === 'beat' && p.frame === 24000) {
        const plan = await c.event(event);
        edit = plan.edit_frame;
        lines.push(`nested-plan accepted=${plan.accepted} edit_frame=${plan.edit_frame}`);
      }
      return lines;
    })());
  });
  await c.subscribe(['beat', 'bar', 'transition', 'state']);
  await c.load({ seed: Number(seed) });
  await c.start();
  let frame = 0;
  while ((edit < 0 || frame < edit + 4096) && frame <= 200000) {
    const b = await c.render(1024);
    // the listeners ran before this render resolved; their calls finish before the next pull
    for (const lines of await Promise.all(nested)) console.log(lines.join('\n'));
    nested = [];
    console.log(`block ${b.frame} ${b.frames}`);
    frame += b.frames;
  }
  console.log(`done frames=${frame}`);
  c.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
