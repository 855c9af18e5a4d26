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
# Instruments for the procedural generator, where the platform has them (optional: without them
# it falls back to pretty_midi's TimGM6mb.sf2 played by tinysoundfont, and says so):
#   fluid-soundfont-gm  FluidR3_GM.sf2 (141 MB), its default General MIDI SoundFont
#   libfluidsynth3      FluidSynth, which plays it click-free (loaded at run time through ctypes)
optional=()
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || optional+=(fluid-soundfont-gm)
if [ "$(uname)" = Linux ] && ! { ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.[23]'; }; then optional+=(libfluidsynth3); fi
if [ ${#optional[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  osudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then osudo="sudo -n"; else osudo="none"; fi
  fi
  if [ "$osudo" != none ]; then
    echo "soundtrack: installing ${optional[*]} with apt-get (the procedural generator's instruments)"
    $osudo apt-get update -qq >/dev/null 2>&1
    for p in "${optional[@]}"; do
      DEBIAN_FRONTEND=noninteractive $osudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
        echo "soundtrack: $p is not available here; the generator falls back to TimGM6mb / tinysoundfont" >&2
    done
  else
    echo "soundtrack: for better instruments install ${optional[*]} (sudo apt-get install ${optional[*]})" >&2
  fi
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
