'use strict';
// End-to-end test of the Node client against a live `soundtrack serve`: one you started from
// the CLI, or the one tests/test_ipc_e2e.py starts (it passes its addresses in the environment
// and then compares the audio written to SOUNDTRACK_OUT with the sequencer rendered offline).
//   soundtrack serve graphs/dungeon.toml --tcp 127.0.0.1:7700 &
//   SOUNDTRACK_TCP=127.0.0.1:7700 npm test
// Optional: SOUNDTRACK_UNIX=/path (the monitor connects there instead of over TCP),
// SOUNDTRACK_EVENT=name (else the first event the start state accepts), SOUNDTRACK_SEED,
// SOUNDTRACK_PRE_BLOCKS, SOUNDTRACK_OUT=/dir.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Client, RemoteError, ErrorCode } = require('..');

const env = process.env;
const BLOCK = 1024;

function address() {
  const a = env.SOUNDTRACK_TCP;
  return { host: a.slice(0, a.lastIndexOf(':')) || '127.0.0.1', port: Number(a.slice(a.lastIndexOf(':') + 1)) };
}

test('load, start, event, pull audio and notifications over TCP and a Unix socket', { skip: !env.SOUNDTRACK_TCP }, async () => {
  const { host, port } = address();
  const game = await Client.connectTcp(port, host);
  const editor = env.SOUNDTRACK_UNIX ? await Client.connectUnix(env.SOUNDTRACK_UNIX) : await Client.connectTcp(port, host);
  try {
    const hello = await game.hello({ role: 'controller' });
    assert.equal(hello.protocol, 1);
    assert.equal(hello.role, 'controller');
    assert.equal(hello.channels, 2);
    if (env.SOUNDTRACK_EVENT) assert.ok(hello.events.includes(env.SOUNDTRACK_EVENT));

    const mon = await editor.hello({ role: 'monitor' });
    assert.equal(mon.role, 'monitor');
    const editorNotes = [];
    editor.on('notification', (kind, p) => editorNotes.push([kind, p]));
    await editor.subscribe(['transition']);
    // A monitor cannot drive the session.
    await assert.rejects(editor.event(env.SOUNDTRACK_EVENT || hello.events[0]), (e) => e instanceof RemoteError && e.code === ErrorCode.NOT_CONTROLLER);

    const gameNotes = [];
    game.on('notification', (kind, p) => gameNotes.push([kind, p]));
    await game.subscribe(['bar', 'transition', 'state']);
    await game.load({ seed: Number(env.SOUNDTRACK_SEED || 0) });
    const started = await game.start();
    assert.equal(started.frame, 0);

    const blocks = [];
    let frame = 0;
    const pull = async () => {
      const notesBefore = gameNotes.length;
      const b = await game.render(BLOCK);
      assert.equal(b.frame, frame);
      assert.equal(b.frames, BLOCK);
      assert.equal(b.pcm.length, BLOCK * b.channels);
      // The notifications for a block arrive before its response and lie inside it.
      for (const [kind, p] of gameNotes.slice(notesBefore)) {
        if (kind === 'state') continue;
        assert.ok(p.frame >= b.frame && p.frame < b.frame + BLOCK, `${kind} at ${p.frame} outside block ${b.frame}`);
      }
      frame += BLOCK;
      blocks.push(b.pcm);
    };
    const preBlocks = Number(env.SOUNDTRACK_PRE_BLOCKS || 8);
    for (let i = 0; i < preBlocks; i++) await pull();

    // the event asked for, or the first one the start state answers (others change nothing)
    let plan = null;
    for (const name of env.SOUNDTRACK_EVENT ? [env.SOUNDTRACK_EVENT] : hello.events) {
      plan = await game.event(name);
      if (plan.accepted) break;
      assert.equal(typeof plan.reason, 'string');
    }
    assert.equal(plan.accepted, true, 'an event the start state accepts');
    assert.equal(plan.posted_frame, frame);
    assert.ok(plan.edit_frame >= frame);
    assert.equal(typeof plan.position, 'string');
    while (frame < plan.edit_frame + 4 * BLOCK) await pull();

    const transitions = gameNotes.filter(([k]) => k === 'transition').map(([, p]) => p);
    assert.ok(transitions.length >= 1, 'a transition notification arrived');
    assert.equal(transitions[0].frame, plan.edit_frame);
    const editorTransitions = editorNotes.filter(([k]) => k === 'transition').map(([, p]) => p.frame);
    assert.deepEqual(editorTransitions.slice(0, 1), [plan.edit_frame]);
    const states = gameNotes.filter(([k]) => k === 'state').map(([, p]) => p.state);
    assert.deepEqual(states.slice(0, 2), [started.state, plan.target]);

    const status = await editor.status();
    assert.equal(status.frame, frame);
    assert.equal(status.state, plan.target);

    if (env.SOUNDTRACK_OUT) {
      const all = new Float32Array(frame * 2);
      blocks.forEach((b, i) => all.set(b, i * BLOCK * 2));
      fs.writeFileSync(path.join(env.SOUNDTRACK_OUT, 'node.f32'), Buffer.from(all.buffer));
      fs.writeFileSync(path.join(env.SOUNDTRACK_OUT, 'node.json'), JSON.stringify({ plan, preBlocks, frames: frame, transitions }));
    }
  } finally {
    game.close();
    editor.close();
  }
});

test('errors come back as RemoteError with the documented codes', { skip: !env.SOUNDTRACK_TCP }, async () => {
  const { host, port } = address();
  const c = await Client.connectTcp(port, host);
  try {
    await assert.rejects(c.call('no_such_method'), (e) => e.code === ErrorCode.METHOD_NOT_FOUND);
    await assert.rejects(c.call('subscribe', [['beats']]), (e) => e.code === ErrorCode.OUT_OF_RANGE && /beats/.test(e.message));
    assert.deepEqual(await c.ping('x'), 'x');
  } finally {
    c.close();
  }
});
