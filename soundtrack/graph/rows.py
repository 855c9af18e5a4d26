"""The graph format as one table: a row per key with its kind, default, range and meaning.

The loader reads every key of every table through its row (`values.read_table`), and the JSON
Schema that editors use (docs/graph.schema.json) is generated from the same rows (`schema`). The
limits here are the documented bounds of docs/security.md ("Graphs"): a graph is untrusted input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soundtrack.graph.model import CURVES, DEFAULT_LOUDNESS, QUANTIZE, STINGER_SYNCS, SYNCS
from soundtrack.roles import DEFAULT_GENERATOR
from soundtrack.stem import DEFAULT_LAYERS, MAX_BARS, MAX_STINGER_BEATS
from soundtrack.timing import DEFAULT_SAMPLE_RATE, MAX_BPM, MIN_BPM

# -- limits ---------------------------------------------------------------------------------------
MAX_GRAPH_BYTES = 1 << 20  # a graph file (or text) is at most 1 MiB
MAX_NAME = 64  # characters in a state, stinger, bridge, param, layer, cue or event name
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_\-]*"
GENERATOR_PATTERN = r"[A-Za-z_][A-Za-z0-9_.\-]*(:[A-Za-z_][A-Za-z0-9_]*)?"  # a name or module:Factory
MAX_GENERATOR = 200  # characters in a generator reference
MAX_PROMPT = 4096  # characters in a prompt
MAX_TEXT = 4096  # characters in a file path or a generator option's string
MAX_SEED = 2**31 - 1
MAX_LAYERS = 16  # layers of a segment (a bank's stem holds at most 16)
MAX_VARIANTS = 16  # main-loop variants of a state
MAX_TEMPI = 16  # extra tempo variants of a state
MAX_CUES = 64  # cues of a state
MAX_PHRASE = 64  # bars in a phrase
MAX_FADE_BARS = 64  # a fade or a ramp: at most 64 bars, 256 beats or 60 seconds
MAX_FADE_BEATS = 256
MAX_FADE_SECONDS = 60
MAX_INTERVAL_SECONDS = 60  # a stinger's min_interval
MIN_GAIN_DB, MAX_GAIN_DB = -60.0, 12.0
MIN_LOUDNESS, MAX_LOUDNESS = -40.0, -6.0
MAX_PARAM = 1e6  # a parameter's min, max and default lie in [-MAX_PARAM, MAX_PARAM]
MAX_STATES = 256
MAX_STINGERS = 256
MAX_BRIDGES = 256
MAX_TRANSITIONS = 1024
MAX_PARAMS = 64
MAX_OPTIONS = 64  # keys in the [generator] table, and items in one option's list
FILE_ROLES = ("intro", "main", "outro")
NAME_RULE = f"start with a letter or _, use letters, digits, _ or - and have at most {MAX_NAME} characters"
FADE_RULE = f"at most {MAX_FADE_BARS} bars, {MAX_FADE_BEATS} beats or {MAX_FADE_SECONDS} seconds"

KINDS = (
    "int", "number", "bool", "string", "name", "names", "bpm", "bpms", "key", "meter", "duration", "seconds",
    "choice", "sync", "cues", "files", "param_layers", "state", "source", "bridge", "generator",
)


@dataclass(frozen=True)
class Row:
    """One key of one table.

    `kind` names the reader that checks and converts it (`values.READERS`). `default` is its value
    when absent (None: no value, or `inherit` says where it comes from); `lo`/`hi` bound a number
    (or a seconds value); `choices` is the valid set of a choice; `most` caps characters of a
    string or items of a list or table; `message` replaces the generic "must be ..." of a range.
    """

    key: str
    kind: str
    doc: str
    default: Any = None
    lo: int | float | None = None
    hi: int | float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    inherit: str = ""
    most: int = 0
    message: str = ""


def _seed(inherit: str = "") -> Row:
    return Row("seed", "int", "Generation seed.", default=None if inherit else 0, lo=0, hi=MAX_SEED, inherit=inherit)


def _musical(inherit: bool) -> tuple[Row, Row, Row]:
    """tempo, key and meter: the [soundtrack] table's defaults, which every segment inherits."""
    src = "[soundtrack]." if inherit else ""
    return (
        Row("tempo", "bpm", f"Tempo in BPM ({MIN_BPM}-{MAX_BPM}), e.g. 110 or \"96 bpm\".", lo=MIN_BPM, hi=MAX_BPM,
            inherit=src and src + "tempo"),
        Row("key", "key", "Key, e.g. \"D minor\" or \"F# dorian\".", inherit=src and src + "key"),
        Row("meter", "meter", "Meter, e.g. \"4/4\", \"3/4\" or \"7/8\".", inherit=src and src + "meter"),
    )


def _prompt(required: bool) -> Row:
    return Row("prompt", "string", "What the music is, for the generator.", required=required, most=MAX_PROMPT)


def _layers(default: tuple[str, ...] | None, inherit: str = "") -> Row:
    return Row("layers", "names", "Layer names, e.g. [\"drums\", \"bass\", \"harmony\", \"melody\"].", default=default,
               inherit=inherit, most=MAX_LAYERS)


_TEMPO, _KEY, _METER = _musical(False)
_S_TEMPO, _S_KEY, _S_METER = _musical(True)

SOUNDTRACK = (
    Row("name", "name", "The soundtrack's name (its bank is loops/NAME).", required=True),
    _TEMPO, _METER, _KEY, _seed(),
    Row("start", "state", "The state that plays first.", inherit="the first state"),
    Row("sample_rate", "int", "Sample rate of the bank and of playback, in Hz.", default=DEFAULT_SAMPLE_RATE, lo=8000,
        hi=192_000),
    Row("loudness", "number", "Integrated loudness the bank's stems are matched to, in LUFS.", default=DEFAULT_LOUDNESS,
        lo=MIN_LOUDNESS, hi=MAX_LOUDNESS, message="must be an integrated loudness in LUFS between -40 and -6"),
    Row("generator", "generator", "The generator that makes the stems: procedural, musicgen or module:Factory.",
        default=DEFAULT_GENERATOR, most=MAX_GENERATOR),
    _layers(DEFAULT_LAYERS),
)
STATE = (
    Row("prompt", "string", "What the music is, for the generator (required unless files are given).",
        most=MAX_PROMPT),
    Row("intro", "int", "Bars of the intro played on entering the state; 0 = none (1 if files.intro is given).",
        default=0, lo=0, hi=MAX_BARS),
    Row("main", "int", "Bars of the main loop.", default=8, lo=1, hi=MAX_BARS),
    Row("variants", "int", "Alternative main loops, played with no immediate repeat.", default=1, lo=1,
        hi=MAX_VARIANTS),
    Row("outro", "int", "Bars of the outro a transition with outro = true plays; 0 = none.", default=0, lo=0,
        hi=MAX_BARS),
    _layers(None, "[soundtrack].layers"), _S_TEMPO, _S_KEY, _S_METER, _seed("[soundtrack].seed"),
    Row("terminal", "bool", "May have no way out (a victory sting, an episode's outro).", default=False),
    Row("cues", "cues", "Named positions in the main loop for sync = \"cue:NAME\", e.g. { drop = \"bar 5\" } or "
        "\"5:3\" (bar 5, beat 3).", most=MAX_CUES),
    Row("files", "files", "Composer stems to import instead of generating, relative to the graph's folder: "
        "{ intro = \"a.wav\", main = \"b.wav\", outro = \"c.wav\" }."),
    Row("tempi", "bpms", "Extra tempo variants of the main loop, made at bank-build time, in BPM.", lo=MIN_BPM,
        hi=MAX_BPM, most=MAX_TEMPI),
)
STINGER = (
    _prompt(True),
    Row("beats", "int", "Length in beats.", default=4, lo=1, hi=MAX_STINGER_BEATS),
    Row("sync", "choice", "When it enters: at once, on the next beat or on the next bar.", default="beat",
        choices=STINGER_SYNCS),
    Row("min_interval", "seconds", "Not played again within this many seconds (a number or \"5s\").", default=0,
        lo=0, hi=MAX_INTERVAL_SECONDS),
    _layers(("melody",)), _S_TEMPO, _S_KEY, _S_METER, _seed("[soundtrack].seed"),
    Row("gain_db", "number", "Gain over the music, in dB.", default=0.0, lo=MIN_GAIN_DB, hi=MAX_GAIN_DB,
        message=f"must be a finite number of dB between {MIN_GAIN_DB:g} and {MAX_GAIN_DB:g}"),
)
BRIDGE = (
    _prompt(True),
    Row("bars", "int", "Length in bars.", default=1, lo=1, hi=MAX_BARS),
    _layers(None, "[soundtrack].layers"), _S_TEMPO, _S_KEY, _S_METER, _seed("[soundtrack].seed"),
)
TRANSITION = (
    Row("from", "source", "The state it leaves, or \"*\" for any state.", required=True),
    Row("to", "state", "The state it goes to.", required=True),
    Row("on", "name", "The event that triggers it; without one it is used when the target is asked for directly."),
    Row("sync", "sync", "The edit point: immediate, beat, bar, phrase, end (of the playing segment) or cue:NAME.",
        default="bar", choices=SYNCS),
    Row("phrase", "int", "Bars per phrase, for sync = \"phrase\".", default=4, lo=1, hi=MAX_PHRASE),
    Row("fade", "duration", f"Crossfade: beats (a number), or \"2 bars\", \"0.5s\", \"250ms\"; 0 = a cut (still a 1 ms "
        f"ramp); {FADE_RULE}.", default=1),
    Row("curve", "choice", "Crossfade curve.", default="equal-power", choices=CURVES),
    Row("outro", "bool", "Play the source's outro first.", default=False),
    Row("intro", "bool", "Play the target's intro.", default=True),
    Row("bridge", "bridge", "A bridge (a [bridges.NAME]) played once between the two states."),
)
PARAM = (
    Row("default", "number", "The value before any is set (default: min).", lo=-MAX_PARAM, hi=MAX_PARAM, inherit="min"),
    Row("min", "number", "The lowest value.", default=0.0, lo=-MAX_PARAM, hi=MAX_PARAM),
    Row("max", "number", "The highest value.", default=1.0, lo=-MAX_PARAM, hi=MAX_PARAM),
    Row("layers", "param_layers", "Layers that fade in as the value crosses [from, to], e.g. "
        "{ drums = [0.4, 0.6] }.", most=MAX_LAYERS),
    Row("quantize", "choice", "When a change starts to ramp.", default="beat", choices=QUANTIZE),
    Row("ramp", "duration", f"How long a change ramps: beats, or \"2 bars\", \"0.5s\"; {FADE_RULE}.", default=1),
)


@dataclass(frozen=True)
class Table:
    """A top-level TOML table: `shape` is table (one), named ([states.NAME]), array ([[transitions]])
    or options ([generator]: plain values the generator checks); at most `most` entries."""

    name: str
    shape: str
    rows: tuple[Row, ...]
    doc: str
    most: int = 0


TOP_TABLES: dict[str, Table] = {t.name: t for t in (
    Table("soundtrack", "table", SOUNDTRACK, "The soundtrack: its name, defaults for every state, its generator."),
    Table("generator", "options", (), "Options for the generator (e.g. musicgen: model, device, guidance_scale, "
          "max_batch), passed to it as data; the generator checks them when a bank is built.", MAX_OPTIONS),
    Table("states", "named", STATE, "Music states, [states.NAME].", MAX_STATES),
    Table("stingers", "named", STINGER, "One-shot overlays, [stingers.NAME]: post their name as an event.",
          MAX_STINGERS),
    Table("bridges", "named", BRIDGE, "Segments a transition plays once between two states, [bridges.NAME].",
          MAX_BRIDGES),
    Table("transitions", "array", TRANSITION, "Transitions, [[transitions]]: most specific first, then '*' sources.",
          MAX_TRANSITIONS),
    Table("params", "named", PARAM, "Parameters that fade layers in and out, [params.NAME].", MAX_PARAMS),
)}
TABLES: dict[str, tuple[Row, ...]] = {name: t.rows for name, t in TOP_TABLES.items() if t.rows}
