"""Studio benchmark: `soundtrack studio` streaming the dungeon over its WebSocket, and a real
browser playing it.

- WebSocket streaming in x real time: a client that acknowledges every block at once (so the
  server's flow control never waits) pulls 60 s of the dungeon session (1024-frame float32 stereo
  blocks, each followed by its JSON tick with the markers), beside the same session rendered by
  `StudioSession` in process (the engine's own speed: what the socket and the loop add is the ratio).
- Underruns in the browser over 60 s of playback: headless Chromium (the platform's package,
  driven by Selenium) plays the session in real time through the page's network Worker and
  AudioWorklet while events and parameter changes are posted from the page; the worklet counts
  every time its jitter buffer ran dry (aim: zero), and the page reports its latency.

Run: `python benchmarks/bench_studio.py` (prints JSON), or through benchmarks/run.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BANK = REPO / "out" / "test-banks" / "dungeon"  # shared with the tests (tests/conftest.py)
SECONDS = 60
BLOCK = 1024


def _bank() -> Path:
    from soundtrack.bank import build_bank
    from soundtrack.graph import load_graph

    build_bank(load_graph(REPO / "graphs" / "dungeon.toml"), out=BANK, jobs=2)  # incremental
    return BANK


async def _stream(seconds: int) -> dict[str, Any]:
    from aiohttp import ClientSession

    from soundtrack.studio.server import HEADER, Studio

    studio = Studio(REPO / "graphs" / "dungeon.toml", bank=_bank(), port=0, takes=tempfile.mkdtemp())
    url = await studio.start()
    try:
        while studio.session is None:
            if studio.phase == "error":
                raise RuntimeError(studio.phase_detail)
            await asyncio.sleep(0.1)
        sr = studio.session.sample_rate
        want = seconds * sr
        got = ticks = 0
        async with ClientSession() as http, http.ws_connect(url + "ws", max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"op": "play", "id": 1}))
            session = None
            t0 = None
            while got < want:
                msg = await ws.receive()
                if msg.type.name == "BINARY":
                    if t0 is None:
                        t0 = time.perf_counter()
                    n = HEADER.unpack_from(msg.data)[2]
                    got += n
                    await ws.send_str(json.dumps({"op": "clock", "session": session, "played": got}))
                    if got == 20 * sr:
                        await ws.send_str(json.dumps({"op": "event", "id": 2, "name": "enemy_spotted"}))
                elif msg.type.name == "TEXT":
                    m = json.loads(msg.data)
                    if m["type"] == "session":
                        session = m["take"]
                    elif m["type"] == "tick":
                        ticks += 1
            wall = time.perf_counter() - t0
        return {"x": got / sr / wall, "wall": wall, "frames": got, "ticks": ticks, "sr": sr, "version": studio.session.version}
    finally:
        await studio.close()


def _engine_alone(version: Any, frames: int) -> float:
    from soundtrack.studio.session import StudioSession

    s = StudioSession(version)
    s.play()
    t0 = time.perf_counter()
    done = 0
    while done < frames:
        if done == 20 * s.sample_rate:
            s.command("event", "enemy_spotted")
        s.render(BLOCK)
        done += BLOCK
    return frames / s.sample_rate / (time.perf_counter() - t0)


def _browser(seconds: int) -> dict[str, Any] | str:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        return "needs chromium and chromium-driver (bash scripts/ensure-browser.sh)"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        return "needs selenium (pip install soundtrack[studio])"
    import re
    import subprocess

    _bank()
    proc = subprocess.Popen([sys.executable, "-m", "soundtrack", "studio", str(REPO / "graphs" / "dungeon.toml"), "--port", "0",
                             "--bank", str(BANK), "--takes", tempfile.mkdtemp()], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for f in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1100",
              f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    d = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        d.get(url)
        deadline = time.monotonic() + 120
        while not d.execute_script("return window.studio && window.studio.ready"):
            if time.monotonic() > deadline:
                raise RuntimeError("the page did not get ready")
            time.sleep(0.2)
        d.find_element(By.ID, "play").click()
        sr = d.execute_script("return window.studio.sampleRate")
        script = [(8, "event-something_stirs"), (18, "event-enemy_spotted"), (30, "event-boss_appears"), (48, "event-boss_defeated")]
        t0 = time.monotonic()
        while True:
            played = d.execute_script("return window.studio.audio.played") or 0
            if played >= seconds * sr:
                break
            while script and played >= script[0][0] * sr:
                d.find_element(By.ID, script.pop(0)[1]).click()
            if time.monotonic() - t0 > seconds * 3:
                raise RuntimeError("playback did not advance in real time")
            time.sleep(0.25)
        a = d.execute_script("return Object.assign({}, window.studio.audio, {stall: window.studio.maxStallMs, "
                             "heard: window.studio.heard.filter(m => m.kind === 'transition').length})")
        return {"underruns": a["underruns"], "underrun_frames": a["underrunFrames"], "latency_ms": a["latencyMs"],
                "device_ms": a["deviceLatencyMs"], "blocks": a["blocks"], "stall_ms": a["stall"], "transitions": a["heard"],
                "wall": time.monotonic() - t0}
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
        proc.terminate()
        proc.wait(10)


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    s = asyncio.run(_stream(SECONDS))
    alone = _engine_alone(s["version"], s["frames"])
    rows.append({"name": "studio WebSocket streaming, 1024-frame blocks (dungeon)", "value": s["x"], "unit": "x real time",
                 "peer": "the same session rendered in process (StudioSession)", "peer_value": alone, "ratio": s["x"] / alone,
                 "note": f"{SECONDS} s of 48 kHz float32 stereo over loopback, each block followed by its JSON tick "
                         f"({s['ticks']} ticks); the client acknowledges at once, so flow control never waits"})
    b = _browser(SECONDS)
    if isinstance(b, str):
        rows.append({"name": f"browser underruns over {SECONDS} s of playback", "value": None, "unit": "underruns", "note": b})
    else:
        rows.append({"name": f"browser underruns over {SECONDS} s of playback (dungeon)", "value": b["underruns"], "unit": "underruns",
                     "peer": None, "peer_value": None, "ratio": None,
                     "note": f"headless Chromium, AudioWorklet fed by a network Worker; {b['underrun_frames']} frames missed, "
                             f"{b['transitions']} transitions heard, latency {b['latency_ms']:.0f} ms (buffer + {b['device_ms']:.0f} ms "
                             f"device), longest main-thread stall {b['stall_ms']:.0f} ms; aim: 0"})
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(run(), indent=2, default=str))
