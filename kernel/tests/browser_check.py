"""JupyterLab in a real browser, as a user would: start JupyterLab from
.venv on a scratch folder, open a notebook (parameterized to the smoke
profile by papermill, with this repository's Rust translator, without
executing it) on the hoimat kernel in headless Chromium (Debian's chromium
and chromedriver, driven by Selenium; nothing is downloaded), run every
cell from the Run menu, save it with Ctrl+S, then find the HTML table and
an image among the outputs and no error output in the saved notebook (read
back through JupyterLab's contents API). A screenshot of the table goes to
OUTDIR.

usage: browser_check.py NOTEBOOK OUTDIR

Every failure says what was missing and where to look (JupyterLab's log,
the screenshot taken at the moment of failure).
"""
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def fail(why):
    print(f"browser check FAILED: {why}", flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    notebook, outdir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for path, package in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")]:
        if not os.access(path, os.X_OK):
            fail(f"{path} not found: install Debian's {package} (./run test does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError as e:
        fail(f"selenium is not importable from {sys.executable} ({e}); ./run installs it from requirements.txt")

    work = outdir / "lab"
    work.mkdir(parents=True, exist_ok=True)
    # The notebook as a user would open it after `papermill --prepare-only`:
    # parameters injected by our translator, nothing executed yet.
    opened = work / notebook.name
    subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook), str(opened), "-k", "hoimat",
         "-p", "profile", "smoke", "-p", "seeds", "[0]", "--prepare-only"],
        check=True,
    )

    # JupyterLab's own settings, isolated: every cell kept in the page (no
    # windowing), so outputs above or below the view can be found.
    settings = outdir / "lab-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ,
               JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(outdir / "lab-workspaces"),
               JUPYTER_CONFIG_DIR=str(outdir / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(outdir / "jupyter-runtime"))
    port, token = free_port(), secrets.token_hex(16)
    log_path = outdir / "jupyterlab.log"
    log = open(log_path, "w")
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         # No network: no news, update checks or extension index.
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=log, stderr=subprocess.STDOUT, env=env)
    driver = None
    shot = outdir / "table2_jupyterlab.png"
    try:
        base = f"http://127.0.0.1:{port}"
        t0 = time.time()
        while True:
            if lab.poll() is not None:
                fail(f"JupyterLab exited ({lab.returncode}); see {log_path}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() - t0 > 90:
                    fail(f"JupyterLab did not answer on {base} within 90 s; see {log_path}")
                time.sleep(0.5)
        print(f"JupyterLab up in {time.time() - t0:.1f} s on {base}", flush=True)

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1600,1400",
                  f"--user-data-dir={outdir / 'chromium-profile'}"]:
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.get(f"{base}/lab/tree/{opened.name}?token={token}")

        def wait_for(what, find, timeout):
            t = time.time()
            while time.time() - t < timeout:
                found = find()
                if found:
                    return found
                time.sleep(0.5)
            driver.save_screenshot(str(shot))
            fail(f"{what} not seen within {timeout} s (screenshot {shot}; JupyterLab log {log_path})")

        def xpath(x):
            return driver.find_elements(By.XPATH, x)

        # The notebook opens on the hoimat kernel (its kernelspec), which
        # reports idle once started.
        wait_for("the notebook's cells", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 90)
        wait_for("the hoimat kernel, idle",
                 lambda: xpath("//*[contains(@class,'jp-StatusBar')]//*[contains(text(),'hoimat') and contains(text(),'Idle')]")
                 or xpath("//*[contains(@class,'jp-Toolbar-kernelStatus') and @data-status='idle']"), 180)
        print(f"kernel idle after {time.time() - t0:.1f} s", flush=True)
        # Run > Run All Cells, by the menus, like a user.
        wait_for("the Run menu", lambda: xpath("//li[contains(@class,'lm-MenuBar-item')][.//*[text()='Run']]"), 30)[0].click()
        wait_for("Run All Cells", lambda: xpath("//li[contains(@class,'lm-Menu-item')][.//*[text()='Run All Cells']]"), 30)[0].click()
        start = time.time()

        def finished():
            prompts = [p.text.strip() for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea-prompt")]
            if not prompts or any("*" in p for p in prompts):
                return False
            if all(any(ch.isdigit() for ch in p) for p in prompts):
                return True
            # Nothing running yet some cells never ran: an error stopped Run All.
            if time.time() - start > 15:
                driver.save_screenshot(str(shot))
                stderr = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
                fail(f"Run All stopped with cells unexecuted (prompts {prompts}); error output: {stderr[-1][:2000] if stderr else 'none'} (screenshot {shot})")
            return False

        wait_for("every cell executed", finished, 1200)
        print(f"all cells ran in {time.time() - start:.1f} s", flush=True)
        # Saved by the user's shortcut, then read back through JupyterLab's
        # contents API: no output of any cell is an error.
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook")[0].click()
        ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()

        def saved():
            with urllib.request.urlopen(f"{base}/api/contents/{opened.name}?content=1&token={token}", timeout=10) as r:
                nb = json.load(r)["content"]
            cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
            return nb if all(c.get("execution_count") for c in cells) else None

        nb = wait_for("the executed notebook saved", saved, 60)
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            driver.save_screenshot(str(shot))
            fail(f"a cell's output is an error: {errors[0].get('ename')}: {errors[0].get('evalue')} (screenshot {shot})")
        tables = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output table")
        images = [i for i in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
                  if driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)]
        if not tables:
            driver.save_screenshot(str(shot))
            fail(f"no HTML table among the outputs (screenshot {shot})")
        if not images:
            driver.save_screenshot(str(shot))
            fail(f"no rendered image among the outputs (screenshot {shot})")
        text = tables[0].text
        if "maml_ral" not in text.lower().replace("-", "_"):
            fail(f"the first table does not list MAML-RAL: {text[:500]}")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", tables[0])
        time.sleep(0.5)
        driver.save_screenshot(str(shot))
        print(f"found {len(tables)} table(s) and {len(images)} image(s); screenshot {shot}", flush=True)
    finally:
        if driver is not None:
            driver.quit()
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
        log.close()


if __name__ == "__main__":
    main()
