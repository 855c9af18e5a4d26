#!/usr/bin/env bash
# Make sure the browser the studio's tests drive is present (tests/test_studio_browser.py):
#   chromium + chromium-driver   headless Chromium from the platform's packages, driven by Selenium
#                                through /usr/bin/chromedriver (nothing is downloaded by Selenium)
# Installs what is missing with apt-get when permitted (root, or passwordless sudo); otherwise
# prints one line naming what to install and exits 0: the browser tests skip, naming it.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
fi
if [ "$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then
  echo "soundtrack: installing ${missing[*]} with apt-get (studio browser tests)"
  if $sudo apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    exit 0
  fi
fi
echo "soundtrack: the studio's browser tests will skip without ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install chromium chromium-driver)" >&2
exit 0
