"""Soundtrack Studio in a real browser: headless Chromium from the platform's packages
(`chromium`, `chromium-driver`; scripts/ensure-browser.sh installs them) driven by Selenium
through /usr/bin/chromedriver, against `soundtrack studio` started as a user starts it.

One session, as a composer would use it: load the page, Play, click an event's button, move the
parameter slider, save the take and replay it with `soundtrack render`, regenerate the playing
state from the Shape form, and stop. Everything asserted about the page is read from the page's
own state (`window.studio`): the plans it was sent, the markers as it heard them, its audio
worklet's counters. Screenshots go to out/test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from test_studio import BAR, SR, tiny_copy

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "out" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--window-size=1400,1250"]

pytestmark = [
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
        reason="needs chromium and chromium-driver (bash scripts/ensure-browser.sh, or apt-get install chromium chromium-driver)",
    ),
    pytest.mark.realtime,  # counts underruns: run alone, not beside other test workers
]


def start_browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    profile = tempfile.mkdtemp(prefix="studio-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_script_timeout(30)
    return driver, profile


def start_studio(graph: Path, takes: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`soundtrack studio GRAPH --port 0` as a user runs it; returns the process and its URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SOUNDTRACK_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "soundtrack", "studio", str(graph), "--port", "0", "--takes", str(takes), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"soundtrack studio: (http://127\.0\.0\.1:\d+/)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("soundtrack studio printed no URL")


def wait(driver, script: str, *, timeout: float = 30, what: str = "") -> object:
    """Poll a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = driver.execute_script(f"return ({script});")
        if v:
            return v
        if time.monotonic() > deadline:
            state = driver.execute_script("const s = window.studio; return s && {phase: s.phase, audio: s.audio, errors: s.errors, "
                                          "regen: s.regen.slice(-3), swaps: s.swaps, plans: s.plans.length, stall: s.maxStallMs};")
            raise AssertionError(f"timed out waiting for {what or script}: {state}")
        time.sleep(0.05)


def test_studio_in_a_browser(tmp_path):
    graph = tiny_copy(tmp_path / "project")
    takes = tmp_path / "takes"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    proc, url = start_studio(graph, takes)
    driver, profile = start_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        driver.get(url)
        wait(driver, "window.studio && window.studio.ready", what="the page to load the graph")
        assert driver.execute_script("return window.studio.model.events") == ["go", "rest"]

        # -- play -----------------------------------------------------------------------------
        driver.find_element(By.ID, "play").click()
        wait(driver, "window.studio.audio.started && window.studio.audio.played > 24000", what="audio to start")
        assert driver.execute_script("return window.studio.audio.context") == "running"

        # -- an event by its button: scheduled on the frame the engine returned, heard there --
        driver.find_element(By.ID, "event-go").click()
        plan = wait(driver, "window.studio.plans.find(p => p.type === 'TransitionPlan' && p.event === 'go')", what="the plan")
        assert plan["accepted"] and plan["source"] == "calm" and plan["target"] == "fight"
        edit = plan["edit_frame"]
        assert edit % BAR == 0 and edit > plan["posted_frame"]  # sync = "bar" on calm's 120 bpm 4/4 grid
        assert "edge pending" in driver.find_element(By.CSS_SELECTOR, f".edge[data-index='{plan['rule']}']").get_attribute("class")
        heard = wait(driver, f"window.studio.heard.find(m => m.kind === 'transition' && m.frame === {edit})",
                     timeout=20, what="the transition to be heard")
        assert heard["detail"]["to"] == "fight" and heard["position"] == plan["position"]
        assert 0 <= heard["heardFrame"] - edit < 0.05 * SR  # raised when it reached the speakers, not when it arrived
        wait(driver, "window.studio.state === 'fight'", what="the state highlight")
        assert "current" in driver.find_element(By.CSS_SELECTOR, ".node[data-state='fight']").get_attribute("class")
        audio = driver.execute_script("return window.studio.audio")
        stall = driver.execute_script("return [window.studio.stalls, window.studio.audio.underrunAt, window.studio.audio.lastBlockAt]")
        assert audio["underruns"] == 0 and audio["dropped"] == 0 and audio["blocks"] > 50, json.dumps((audio, stall))

        # -- a parameter slider, moved with the keyboard ------------------------------------------
        slider = driver.find_element(By.ID, "param-intensity")
        slider.click()  # the middle of the track: 0.50
        for _ in range(20):
            slider.send_keys(Keys.ARROW_RIGHT)
        value = float(slider.get_attribute("value"))
        assert abs(value - 0.7) < 1e-9
        change = wait(driver, f"window.studio.plans.find(p => p.type === 'ParamChange' && Math.abs(p.value - {value}) < 1e-9)",
                      what="the parameter change")
        assert change["name"] == "intensity" and change["frame"] % (BAR // 4) == 0  # quantized to a beat
        target = change["gains"]["melody"]
        wait(driver, f"Math.abs(window.studio.lastTick.gains.melody - {target}) < 1e-3 && window.studio.heardFrame > {change['frame'] + change['ramp_frames']}",
             timeout=15, what="the melody layer to reach its gain")

        # -- save the take; `soundtrack render` replays it bit for bit -------------------------
        time.sleep(0.5)
        driver.find_element(By.ID, "save-take").click()
        take = wait(driver, "window.studio.takes[0]", what="the saved take")
        assert take["replayable"], take
        out = tmp_path / "replay.wav"
        r = subprocess.run([sys.executable, "-m", "soundtrack", "render", str(graph), "--events", take["script"], "--out", str(out)],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"calm -> fight at {edit / SR:.3f}s (frame {edit}," in r.stdout  # the engine's plan, offline, is the page's
        import soundfile as sf

        took, _ = sf.read(take["wav"], dtype="float32", always_2d=True)
        again, _ = sf.read(out, dtype="float32", always_2d=True)
        assert took.shape == again.shape and took.shape[0] == take["frames"] > edit
        assert np.array_equal(took, again)

        driver.save_screenshot(str(ARTIFACTS / "studio-page.png"))
        driver.find_element(By.ID, "diagram").screenshot(str(ARTIFACTS / "studio-states.png"))
        driver.find_element(By.ID, "timeline").screenshot(str(ARTIFACTS / "studio-timeline.png"))

        # -- regenerate the playing state while it plays ------------------------------------------
        before = graph.read_text()
        stems_before = set(os.listdir(graph.parent / "loops" / "tiny" / "stems"))
        played_before = driver.execute_script("return window.studio.audio.played")
        driver.find_element(By.CSS_SELECTOR, ".node[data-state='fight']").click()
        assert driver.find_element(By.ID, "shape-state").get_attribute("value") == "fight"
        prompt = driver.find_element(By.NAME, "prompt")
        new_prompt = f"driving rock, drums, organ {os.getpid()}-{int(time.time())}"  # always new: generated, never cached
        prompt.clear()
        prompt.send_keys(new_prompt)
        driver.find_element(By.ID, "regen").click()
        samples = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            s = driver.execute_script("const s = window.studio; return {played: s.audio.played, underruns: s.audio.underruns, "
                                      "regen: s.regen.slice(-1)[0] || null, swaps: s.swaps.length, errors: s.errors};")
            samples.append(s["played"])
            if s["regen"] and s["regen"]["phase"] == "failed":
                raise AssertionError(f"regeneration failed: {s['regen']}")
            if s["swaps"]:
                break
            time.sleep(0.25)
        built = driver.execute_script("return window.studio.regen.find(m => m.phase === 'built')")
        swap = driver.execute_script("return window.studio.swaps[0]")
        assert built and swap, (built, swap)
        assert built["generated"] == ["fight/main/0"] and built["changed"] == ["fight"]  # only that state's stems
        assert swap["changed"] == ["fight"] and swap["playing_state_changed"] and swap["state"] == "fight"
        import difflib

        after = graph.read_text()
        diff = [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]
        assert diff == ['- prompt = "driving rock, drums"   # the loud state',
                        f'+ prompt = "{new_prompt}"   # the loud state']  # one line changed, its comment and all else kept
        new_files = set(os.listdir(graph.parent / "loops" / "tiny" / "stems")) - stems_before
        keys = {f.split(".")[0] for f in new_files}
        assert len(keys) == 1 and {f.split(".", 1)[1] for f in new_files} == {"json", "drums.flac", "bass.flac", "harmony.flac"}
        # playback never stopped: the worklet's clock moved on all along, and never ran dry
        assert all(b > a for a, b in zip(samples[::4], samples[4::4])), samples
        audio = driver.execute_script("return window.studio.audio")
        stall = driver.execute_script("return [window.studio.stalls, window.studio.audio.underrunAt, window.studio.audio.lastBlockAt]")
        assert audio["underruns"] == 0 and audio["underrunFrames"] == 0 and audio["played"] > played_before, json.dumps((audio, stall, built))
        wait(driver, "window.studio.heard.some(m => m.kind === 'swap')", timeout=10, what="the swap to be heard")
        time.sleep(1.0)
        driver.save_screenshot(str(ARTIFACTS / "studio-after-regenerate.png"))
        driver.find_element(By.ID, "timeline").screenshot(str(ARTIFACTS / "studio-timeline-swap.png"))

        # -- stop: a fade, then the stream ends ---------------------------------------------------
        driver.find_element(By.ID, "stop").click()
        wait(driver, "window.studio.ended", timeout=10, what="the stream to end")
        wait(driver, "!window.studio.playing", timeout=10, what="the buffer to drain")
        assert driver.execute_script("return window.studio.audio.underruns") == 0
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
