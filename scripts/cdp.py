#!/usr/bin/env python3
"""Drives Debian's headless chromium over the DevTools protocol on a pipe (--remote-debugging-pipe):
no websocket library, no Playwright, nothing to install but chromium.

    python3 scripts/cdp.py CHROMIUM < plan.json > results.json

plan: {"width": 1440, "height": 900, "steps": [STEP, ...]} where a STEP is one of
    {"navigate": URL}                      load a page and wait until it is complete
    {"wait": JS, "timeout": SECONDS}       evaluate JS (promises awaited) every 100 ms until truthy
    {"eval": JS}                           evaluate JS once
    {"screenshot": PATH}                   a PNG of the viewport
    {"viewport": [WIDTH, HEIGHT]}          resize the viewport
    {"key": KEY}                           press and release a key (e.g. "ArrowRight", "Enter", "Tab")
    {"signal": PATH}                       create the file PATH (tells the test driving the server to act)
Prints {"results": [...]}, one per step: the value for eval; {"ok", "value", "waited"} for wait;
and exits 0, or 1 with {"error": ...} when the browser or a step fails.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

KEYS = {"Enter": 13, "Tab": 9, "Escape": 27, "ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40, "Home": 36, "End": 35}


class Chromium:
    def __init__(self, binary, width, height):
        self.profile = tempfile.mkdtemp(prefix="cdp-profile-")
        to_child_read, self.to_child = os.pipe()
        self.from_child, from_child_write = os.pipe()

        def wire():  # chromium reads commands on fd 3 and writes answers on fd 4
            os.dup2(to_child_read, 3)
            os.dup2(from_child_write, 4)

        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_child_read)
        os.close(from_child_write)
        self.buffer = b""
        self.next_id = 0
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)
        self.viewport(width, height)

    def send(self, method, params=None, session=False, timeout=60):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buffer:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{method}: no answer in {timeout} s")
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', {}).get('description', result['exceptionDetails'])}")
        return result["result"].get("value")

    def viewport(self, width, height):
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700}, session=True)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def run(browser, step):
    if "navigate" in step:
        browser.send("Page.navigate", {"url": step["navigate"]}, session=True)
        start = time.monotonic()
        while time.monotonic() - start < 30:
            if browser.evaluate("document.readyState") == "complete":
                return {"ok": True, "waited": round(time.monotonic() - start, 3)}
            time.sleep(0.05)
        return {"ok": False}
    if "wait" in step:
        start = time.monotonic()
        value = None
        while time.monotonic() - start < step.get("timeout", 10):
            value = browser.evaluate(step["wait"])
            if value:
                return {"ok": True, "value": value, "waited": round(time.monotonic() - start, 3)}
            time.sleep(0.1)
        return {"ok": False, "value": value, "waited": round(time.monotonic() - start, 3)}
    if "eval" in step:
        return browser.evaluate(step["eval"])
    if "screenshot" in step:
        data = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"])
        with open(step["screenshot"], "wb") as f:
            f.write(data)
        return len(data)
    if "viewport" in step:
        browser.viewport(*step["viewport"])
        return True
    if "key" in step:
        key = step["key"]
        for kind in ("keyDown", "keyUp"):
            browser.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": KEYS.get(key, 0)}, session=True)
        return True
    if "signal" in step:
        open(step["signal"], "w").close()
        return True
    raise ValueError(f"unknown step {step}")


def main():
    plan = json.load(sys.stdin)
    browser = Chromium(sys.argv[1] if len(sys.argv) > 1 else "chromium", plan.get("width", 1440), plan.get("height", 900))
    results = []
    try:
        for step in plan["steps"]:
            results.append(run(browser, step))
    except Exception as error:  # the results so far, and what failed
        print(json.dumps({"results": results, "error": str(error)}))
        return 1
    finally:
        browser.close()
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
