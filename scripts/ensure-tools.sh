#!/usr/bin/env bash
# Make sure the system tools soundtrack needs are present:
#   rubberband  time-stretching (the Rubber Band CLI that pyrubberband calls)
#   ffmpeg      MP3/AAC export and reading of compressed audio (pydub)
#   portaudio   headers to build pyaudio, which the tinysoundfont package requires
#   espeak-ng   real speech for the podcast demo and the ducking tests
# Installs what is missing with the platform's package manager when permitted (root, or
# passwordless sudo); otherwise prints one line naming what to install and fails.
set -u
missing=() debs=() brews=()
if ! command -v rubberband >/dev/null 2>&1; then missing+=(rubberband); debs+=(rubberband-cli); brews+=(rubberband); fi
if ! command -v ffmpeg >/dev/null 2>&1; then missing+=(ffmpeg); debs+=(ffmpeg); brews+=(ffmpeg); fi
if ! command -v espeak-ng >/dev/null 2>&1; then missing+=(espeak-ng); debs+=(espeak-ng); brews+=(espeak-ng); fi
if [ "$(uname)" = Linux ] && [ ! -f /usr/include/portaudio.h ] && [ ! -f /usr/local/include/portaudio.h ]; then
  missing+=("portaudio headers"); debs+=(portaudio19-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
fi
if [ "$sudo" != none ] && command -v apt-get >/dev/null 2>&1; then
  echo "soundtrack: installing ${debs[*]} with apt-get"
  if $sudo apt-get update -qq >/dev/null 2>&1 &&
     DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${debs[@]}" >/dev/null 2>&1; then
    exit 0
  fi
elif command -v brew >/dev/null 2>&1 && [ ${#brews[@]} -gt 0 ]; then
  brew install "${brews[@]}" && exit 0
fi
echo "soundtrack: missing ${missing[*]}; install them (Debian/Ubuntu: sudo apt-get install ${debs[*]}; macOS: brew install rubberband ffmpeg portaudio espeak-ng)" >&2
exit 1
