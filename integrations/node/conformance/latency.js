'use strict';
// Round trips through the Node client (integrations/bench_latency.py runs it):
//   node conformance/latency.js HOST PORT N
const { Client } = require('..');

async function measure(n, fn) {
  for (let k = 0; k < 50; k++) await fn();
  const t = [];
  for (let k = 0; k < n; k++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  t.sort((a, b) => a - b);
  return [t[Math.floor(n * 0.5)], t[Math.floor(n * 0.99)]];
}

async function main() {
  const [host, port, n] = process.argv.slice(2);
  const c = await Client.connectTcp(Number(port), host);
  await c.hello({ role: 'controller' }); await c.load({ seed: 1 }); await c.start();
  const [r50, r99] = await measure(Number(n), () => c.render(1024));
  const [p50, p99] = await measure(Number(n), () => c.ping(1));
  console.log(`latency render_p50_us=${r50.toFixed(0)} render_p99_us=${r99.toFixed(0)} ping_p50_us=${p50.toFixed(0)} ping_p99_us=${p99.toFixed(0)}`);
  c.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
