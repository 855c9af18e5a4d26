#!/usr/bin/env bash
# Make sure the toolchains the integration tests run are present (tests/test_integrations.py):
#   lua5.4 + lua-socket   the LÖVE/Lua client        mono-mcs + mono-runtime   the Unity C# client
#   godot3-server         the Godot 3 client, headless (only where the package exists)
#   g++                   the C++ client (build-essential)
#   nodejs + npm          the reference Node.js client (npm ci fetches @msgpack/msgpack)
# Installs what is missing with apt-get when permitted (root, or passwordless sudo); otherwise
# prints one line naming what to install and exits 0: the tests for a missing tool skip, naming it.
set -u
missing=()
command -v lua5.4 >/dev/null 2>&1 || missing+=(lua5.4)
if command -v lua5.4 >/dev/null 2>&1 && ! lua5.4 -e 'require("socket")' >/dev/null 2>&1; then missing+=(lua-socket)
elif ! command -v lua5.4 >/dev/null 2>&1; then missing+=(lua-socket); fi
command -v mcs >/dev/null 2>&1 || missing+=(mono-mcs)
command -v mono >/dev/null 2>&1 || missing+=(mono-runtime)
command -v godot3-server >/dev/null 2>&1 || missing+=(godot3-server)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
fi
if [ "$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then
  $sudo apt-get update -qq >/dev/null 2>&1
  # install only what this distribution has (godot3-server is in Debian, not in every Ubuntu)
  debs=()
  for p in "${missing[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then debs+=("$p"); fi
  done
  if [ ${#debs[@]} -gt 0 ]; then
    echo "soundtrack: installing ${debs[*]} with apt-get (integration tests)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null 2>&1 ||
      echo "soundtrack: apt-get install ${debs[*]} failed; those integration tests will skip" >&2
  fi
  [ ${#debs[@]} -eq ${#missing[@]} ] && exit 0
  left=()
  for p in "${missing[@]}"; do [[ " ${debs[*]} " == *" $p "* ]] || left+=("$p"); done
  echo "soundtrack: ${left[*]} not available from apt here; those integration tests will skip" >&2
  exit 0
fi
echo "soundtrack: integration tests will skip without ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
exit 0
