"""scripts/check-browser's steps (see there): dserve driven by chromium through selenium."""
import os
import re
import signal
import subprocess
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

import fashion_png

bin_dir, model, index, screenshot = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
work = tempfile.mkdtemp()

image = os.path.join(work, f"fashion-test-{index}.png")
fashion_png.write(image, index)

predicted = subprocess.run([f"{bin_dir}/dtest", f"zoo:{model}", "--predict", image], check=True, capture_output=True, text=True).stdout
expected = re.search(r"^  1\.\s+(.+?)\s+\d\.\d{4}\s+\(class \d+\)$", predicted, re.M).group(1)

server = subprocess.Popen([f"{bin_dir}/dserve", "--port", "0", "--zoo", os.path.join(work, "zoo")], stdout=subprocess.PIPE, text=True)
driver = None
try:
    url = re.search(r"url=(\S+)", server.stdout.readline()).group(1)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(url)
    driver.find_element(By.LINK_TEXT, model).click()
    WebDriverWait(driver, 10).until(expected_conditions.title_contains(model))
    driver.find_element(By.ID, "file").send_keys(image)
    driver.find_element(By.CSS_SELECTOR, "#upload button").click()
    WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#top tr")) == 5)
    rows = driver.find_elements(By.CSS_SELECTOR, "#top tr")
    top1 = rows[0].find_element(By.CLASS_NAME, "class").text
    bars = len(driver.find_elements(By.CSS_SELECTOR, "#top .bar"))
    driver.save_screenshot(screenshot)
    ok = top1 == expected and bars == 5
    print(f"check-browser model={model} image={index} page_top1={top1!r} dtest_top1={expected!r} bars={bars} screenshot={screenshot} {'passed' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
finally:
    if driver:
        driver.quit()
    server.send_signal(signal.SIGINT)
    server.wait(timeout=15)
