"""The procedural composer's styles, and the instruments a prompt can name.

| style | tempo | meter | mode | harmony (progressions) | instruments (GM program / synth) | groove | register & room |
| --- | --- | --- | --- | --- | --- | --- | --- |
| ambient | 60-80 | 4/4 | major / minor | slow sus2/add9/maj7 chords, 2 bars each, plagal IV -> I | warm pad 89, soft piano 0 lead, strings 48 drone bass | none by default: a whisper of shaker and triangle | wide, 4.5 s hall, heavy sends |
| orchestral (epic) | 90-132 | 4/4 | minor | i-bVI-bIII-bVII, i-bVI-iv-V (harmonic-minor V), I-V-vi-IV | strings 48 ostinato, french horn 60 lead, low strings bass, timpani 47 | timpani + concert bass drum + crash, snare fills; taiko 116 when asked | 2.8 s hall |
| horror (dark) | 56-76 | 4/4 | minor | minor, diminished, chromatic mediants (i-bvi), Neapolitan, 2 bars each | tremolo strings 44 clusters, music box 10, contrabass 43 drone | heartbeat kick, low toms, cymbal swells | low and high extremes, 3.5 s |
| synthwave (electronic) | 96-118 | 4/4 | minor | i-bVI-bIII-bVII, I-V-vi-IV | saw_pad + 16th saw_lead arpeggio, saw_lead lead, sub_bass | four on the floor, backbeat snare+clap, 16th hats | 2.2 s plate |
| lofi (chill) | 70-88 | 4/4 | major / minor | maj7/min7/9th chords, I-vi-ii-V | rhodes 4 comping, vibraphone 11, finger bass 33 | swung boom-bap, side stick, soft hats | 1.2 s room, swing 3/5 |
| chiptune (8-bit) | 132-160 | 4/4 | major | I-V-vi-IV, I-IV-V-IV, fast 32nd-note arpeggios | pulse arpeggio + pulse lead, triangle bass, noise_drums | busy kick/snare, 8th hats | dry (0.3 s) |
| rock (action) | 124-160 | 4/4 | minor | power chords i5-bVI5-bVII5, phrygian i5-bII5 | distorted guitar 30 chugging, overdriven lead 29, picked bass 34 | backbeat, 8th hats or ride, crash on phrases, tom fills, drum-fill pickup | 1.2 s |
| jazz (lounge) | 96-140 | 4/4 | major | 7ths/9ths, I-vi-ii-V, secondary dominants, ii-V-i in minor | piano 0 rootless comping, tenor sax 66, upright bass 32 walking | swung ride, hi-hat on 2 and 4, brush ghosts | 1.5 s club, swing 2/3 |
| folk (acoustic) | 92-116 | 4/4 | major | I-IV-I-V, I-V-vi-IV, modal bVII | steel guitar 25 strumming, flute 73, acoustic bass 32 root-fifth | tambourine and soft kick, claps | 1.4 s |

Each style also fixes the harmonic rhythm, the melody's rhythm vocabulary and leap/rest habits,
how the intro enters (pickup or not) and the outro's cadence. Prompt instrument words re-cast a
role (`INSTRUMENTS`): "harp" adds a harp arpeggio, "taiko" puts taiko (GM 116) in the drums, etc.
Synth voice names ("pulse", "triangle", "noise_drums", "saw_pad", "saw_lead", "sub_bass") are
built-in voices of the renderer; everything else is General MIDI (0-based program numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from soundtrack.timing import Meter

F = Fraction


@dataclass(frozen=True)
class Voice:
    """An instrument for one part: a GM program (0-based) or a built-in synth voice."""

    name: str
    program: int = 0
    synth: str | None = None
    is_drum: bool = False
    gain_db: float = 0.0
    pan: float = 0.0
    reverb: float = 0.2


DRUM_KIT = Voice("drum kit", 0, is_drum=True, reverb=0.15)


@dataclass(frozen=True)
class Style:
    """What a style decides; see the module table. Registers are MIDI (low, high) per layer."""

    name: str
    genre_words: tuple[str, ...]  # strong evidence in a prompt ("jazz")
    flavor_words: tuple[str, ...]  # weaker evidence ("smooth", "epic")
    tempo: tuple[int, int]
    meter: Meter
    prefers_minor: bool
    progressions_major: tuple[str, ...]  # roman numerals, one chord per harmonic-rhythm step
    progressions_minor: tuple[str, ...]
    cadences_major: tuple[str, ...]  # the outro's penultimate chord, first that fits the mode
    cadences_minor: tuple[str, ...]
    voices: dict[str, Voice]  # role -> voice; roles: pad, arp, lead, bass, kit, perc
    harmony: str  # pad | comp | strum | power | ostinato | chip_arp | cluster
    bass: str  # drone | root | root_fifth | walking | pump | rock8 | ostinato | chip | lofi
    groove: str  # the drums writer (see drums.py)
    register: dict[str, tuple[int, int]]
    rhythm: tuple[tuple[Fraction, int], ...]  # melody note lengths in quarter notes, with weights
    reverb_seconds: float
    density: float  # 0..1, how busy melody and accompaniment are
    intensity: float = 0.5  # the default when the prompt names none
    bars_per_chord: int = 1
    allow_dim: bool = False
    swing: Fraction = F(1, 2)
    leap: float = 0.25  # chance of a leap in the motif contour
    rest: float = 0.1  # chance of a rest in the motif
    pickup: str | None = None  # layer that plays a pickup into the intro's bar 1
    intro_order: tuple[str, ...] = ("harmony", "bass", "drums", "melody")
    harmony_voices: int = 4
    arp: bool = False  # an arpeggio part in the harmony layer by default
    arp_rate: Fraction = F(1, 2)  # arpeggio note length in quarter notes


STYLES: dict[str, Style] = {}


def _add(s: Style) -> None:
    STYLES[s.name] = s


_add(Style(
    name="ambient",
    genre_words=("ambient", "drone", "atmospheric", "ethereal", "meditative", "meditation", "soundscape", "bed", "new age",
                 "solo piano", "piano solo", "nocturne", "lullaby", "underscore", "background music", "sleep"),
    flavor_words=("dreamy", "floating", "spacious", "calm", "peaceful", "serene", "relaxing"),
    tempo=(60, 80),
    meter=Meter(4, 4),
    prefers_minor=False,
    progressions_major=("Isus2 IVadd9 vi7 IVmaj7", "Iadd9 iii7 IVmaj7 Vsus4", "Isus2 vi7 IVadd9 Vsus4", "Imaj7 IVadd9 Imaj7 IVmaj7"),
    progressions_minor=("iadd9 bVImaj7 bIIIadd9 bVIIsus2", "i9 bVImaj7 iv9 bVIIsus4", "isus2 bVIadd9 isus2 bVIIadd9", "iadd9 iv7 bVImaj7 bVIIsus2"),
    cadences_major=("IVadd9", "Vsus4", "IV"),
    cadences_minor=("bVIIsus2", "iv7", "bVII", "iv"),
    voices={
        "pad": Voice("warm pad", 89, gain_db=-2, reverb=0.6),
        "lead": Voice("piano", 0, gain_db=-4, pan=0.15, reverb=0.55),
        "bass": Voice("string drone", 48, gain_db=-5, reverb=0.5),
        "kit": Voice("soft percussion", 0, is_drum=True, gain_db=-10, reverb=0.5),
        "arp": Voice("celesta", 8, gain_db=-8, pan=-0.3, reverb=0.6),
    },
    harmony="pad",
    bass="drone",
    groove="ambient",
    register={"bass": (36, 55), "harmony": (52, 79), "melody": (64, 88), "arp": (64, 88)},
    rhythm=((F(2), 4), (F(3), 2), (F(1), 3), (F(4), 2)),
    reverb_seconds=4.5,
    density=0.25,
    intensity=0.3,
    bars_per_chord=2,
    leap=0.35,
    rest=0.3,
    harmony_voices=5,
))

_add(Style(
    name="orchestral",
    genre_words=("orchestral", "orchestra", "cinematic", "symphonic", "score", "film", "trailer", "waltz", "march",
                 "news", "news intro", "headline", "headlines", "broadcast", "documentary", "fanfare", "anthem", "classical"),
    flavor_words=("epic", "heroic", "triumphant", "majestic", "battle", "adventure", "grand", "riser", "taiko", "brass",
                  "strings", "choir", "elegant", "confident", "victory", "boss battle"),
    tempo=(90, 132),
    meter=Meter(4, 4),
    prefers_minor=True,
    progressions_major=("I V vi IV", "I IV vi V", "I vi IV V", "I iii IV V"),
    progressions_minor=("i bVI bIII bVII", "i bVI iv V!", "i bVII bVI V!", "i iv bVI bVII", "i bIII iv V!"),
    cadences_major=("V", "IV"),
    cadences_minor=("V!", "bVII", "iv"),
    voices={
        "pad": Voice("strings", 48, reverb=0.45),
        "lead": Voice("french horn", 60, pan=-0.1, reverb=0.45),
        "bass": Voice("low strings", 48, gain_db=-1, reverb=0.4),
        "kit": Voice("orchestral percussion", 0, is_drum=True, gain_db=-3, reverb=0.4),
        "perc": Voice("timpani", 47, gain_db=-2, reverb=0.45),
        "arp": Voice("harp", 46, gain_db=-4, pan=0.3, reverb=0.5),
    },
    harmony="ostinato",
    bass="ostinato",
    groove="orchestral",
    register={"bass": (31, 55), "harmony": (50, 76), "melody": (58, 84), "arp": (55, 86)},
    rhythm=((F(1), 4), (F(1, 2), 3), (F(2), 3), (F(3, 2), 2), (F(3), 1)),
    reverb_seconds=2.8,
    density=0.55,
    intensity=0.65,
    pickup="drums",
    intro_order=("drums", "harmony", "bass", "melody"),
))

_add(Style(
    name="horror",
    genre_words=("horror", "scary", "creepy", "spooky", "haunted", "eerie", "terror"),
    flavor_words=("dark", "sinister", "ominous", "dread", "suspense", "suspenseful", "ghost", "nightmare", "unsettling", "menacing"),
    tempo=(56, 76),
    meter=Meter(4, 4),
    prefers_minor=True,
    progressions_major=("I bvi! I viio", "I bIII! vi viio"),
    progressions_minor=("i bvi! iv iio", "i bVI iio V!", "i bII! i V!", "i bvi! i iio"),
    cadences_major=("viio", "V"),
    cadences_minor=("V!", "iio", "iv"),
    voices={
        "pad": Voice("tremolo strings", 44, gain_db=-2, reverb=0.55),
        "lead": Voice("music box", 10, gain_db=-3, pan=0.2, reverb=0.6),
        "bass": Voice("contrabass", 43, reverb=0.45),
        "kit": Voice("low percussion", 0, is_drum=True, gain_db=-4, reverb=0.5),
        "arp": Voice("celesta", 8, gain_db=-6, pan=-0.3, reverb=0.6),
    },
    harmony="cluster",
    bass="drone",
    groove="horror",
    register={"bass": (28, 50), "harmony": (48, 74), "melody": (65, 86), "arp": (72, 91)},
    rhythm=((F(1), 3), (F(2), 3), (F(1, 2), 2), (F(3), 1)),
    reverb_seconds=3.5,
    density=0.3,
    intensity=0.4,
    bars_per_chord=2,
    allow_dim=True,
    leap=0.4,
    rest=0.35,
    intro_order=("bass", "harmony", "drums", "melody"),
))

_add(Style(
    name="synthwave",
    genre_words=("synthwave", "retrowave", "outrun", "electronic", "synthpop", "edm", "techno", "electro", "cyberpunk", "vaporwave",
                 "drum and bass", "drum n bass", "drum & bass", "dnb", "jungle", "house", "trance", "dubstep", "breakbeat", "electronica"),
    flavor_words=("synth", "synths", "retro", "80s", "neon", "futuristic", "night drive", "club"),
    tempo=(96, 118),
    meter=Meter(4, 4),
    prefers_minor=True,
    progressions_major=("I V vi IV", "I vi IV V", "I iii IV V"),
    progressions_minor=("i bVI bIII bVII", "i bVII bVI bVII", "i iv bVI bVII", "i bVI i bVII"),
    cadences_major=("V", "IV"),
    cadences_minor=("bVII", "iv"),
    voices={
        "pad": Voice("saw pad", synth="saw_pad", gain_db=-4, reverb=0.4),
        "arp": Voice("saw arpeggio", synth="saw_lead", gain_db=-10, pan=0.25, reverb=0.35),
        "lead": Voice("saw lead", synth="saw_lead", gain_db=-3, reverb=0.35),
        "bass": Voice("sub bass", synth="sub_bass", reverb=0.05),
        "kit": Voice("drum machine", 0, is_drum=True, reverb=0.2),
    },
    harmony="pad",
    bass="pump",
    groove="synthwave",
    register={"bass": (28, 50), "harmony": (52, 76), "melody": (62, 86), "arp": (60, 84)},
    rhythm=((F(1, 2), 4), (F(1), 4), (F(3, 2), 2), (F(2), 2)),
    reverb_seconds=2.2,
    density=0.5,
    intensity=0.6,
    arp=True,
    arp_rate=F(1, 4),
    intro_order=("harmony", "bass", "drums", "melody"),
))

_add(Style(
    name="lofi",
    genre_words=("lofi", "lo-fi", "lo fi", "chillhop", "chill hop", "hip hop", "hip-hop", "hiphop", "boom bap", "beats", "trap", "rap"),
    flavor_words=("chill", "mellow", "cozy", "study", "relaxed", "laid back", "laid-back", "dusty", "vinyl", "warm", "808"),
    tempo=(70, 88),
    meter=Meter(4, 4),
    prefers_minor=False,
    progressions_major=("Imaj7 vi7 ii7 V7", "Imaj9 iii7 vi9 IVmaj7", "Imaj7 IVmaj7 iii7 vi7", "Imaj9 vi7 IVmaj7 V7"),
    progressions_minor=("i7 iv7 bVImaj7 v7", "i9 bIIImaj7 iv7 bVII7", "i7 bVImaj7 iv9 v7", "i7 IV7 i7 IV7"),
    cadences_major=("V7", "IVmaj7", "ii7"),
    cadences_minor=("v7", "bVII7", "iv7"),
    voices={
        "pad": Voice("rhodes", 4, gain_db=-1, reverb=0.3),
        "lead": Voice("electric piano", 5, gain_db=-3, pan=0.2, reverb=0.35),
        "bass": Voice("finger bass", 33, reverb=0.05),
        "kit": Voice("dusty kit", 0, is_drum=True, gain_db=-2, reverb=0.15),
        "arp": Voice("clean guitar", 26, gain_db=-6, pan=-0.3, reverb=0.3),
    },
    harmony="comp",
    bass="lofi",
    groove="lofi",
    register={"bass": (31, 52), "harmony": (50, 74), "melody": (62, 84), "arp": (55, 79)},
    rhythm=((F(1, 2), 4), (F(1), 4), (F(3, 2), 2), (F(2), 1)),
    reverb_seconds=1.2,
    density=0.4,
    intensity=0.35,
    swing=F(3, 5),
    rest=0.25,
    intro_order=("harmony", "drums", "bass", "melody"),
))

_add(Style(
    name="chiptune",
    genre_words=("chiptune", "chip", "8-bit", "8bit", "8 bit", "16-bit", "nes", "gameboy", "game boy", "arcade"),
    flavor_words=("retro game", "pixel", "bleepy", "platformer", "video game"),
    tempo=(132, 160),
    meter=Meter(4, 4),
    prefers_minor=False,
    progressions_major=("I V vi IV", "I IV V IV", "I vi IV V", "I IV I V"),
    progressions_minor=("i bVI bVII bVII", "i iv bVII bIII", "i bVII bVI V!", "i bVI bIII bVII"),
    cadences_major=("V", "IV"),
    cadences_minor=("bVII", "V!"),
    voices={
        "pad": Voice("pulse arpeggio", synth="pulse", gain_db=-9, pan=-0.2, reverb=0.05),
        "lead": Voice("pulse lead", synth="pulse", gain_db=-4, pan=0.1, reverb=0.08),
        "bass": Voice("triangle bass", synth="triangle", reverb=0.0),
        "kit": Voice("noise drums", synth="noise_drums", is_drum=True, gain_db=-4, reverb=0.02),
        "arp": Voice("pulse echo", synth="pulse", gain_db=-12, pan=0.3, reverb=0.05),
    },
    harmony="chip_arp",
    bass="chip",
    groove="chiptune",
    register={"bass": (36, 60), "harmony": (60, 84), "melody": (67, 93), "arp": (67, 91)},
    rhythm=((F(1, 2), 5), (F(1, 4), 2), (F(1), 3), (F(3, 2), 1)),
    reverb_seconds=0.3,
    density=0.7,
    intensity=0.65,
    leap=0.35,
    rest=0.08,
    pickup="drums",
    intro_order=("drums", "harmony", "bass", "melody"),
    arp_rate=F(1, 8),
))

_add(Style(
    name="rock",
    genre_words=("rock", "metal", "punk", "grunge", "hard rock"),
    flavor_words=("action", "combat", "fight", "chase", "heavy", "boss", "aggressive", "pounding", "riff", "energetic", "guitar"),
    tempo=(124, 160),
    meter=Meter(4, 4),
    prefers_minor=True,
    progressions_major=("I5 bVII5! IV5 IV5", "I5 IV5 V5 IV5", "I5 V5 vi5 IV5", "I5 bVII5! IV5 V5"),
    progressions_minor=("i5 bVI5 i5 bVII5", "i5 bVI5 bIII5 bVII5", "i5 bVII5 bVI5 bVII5", "i5 bII5 i5 bVII5", "i5 iv5 bVI5 V5"),
    cadences_major=("V5", "IV5", "bVII5!"),
    cadences_minor=("bVII5", "V5", "bVI5"),
    voices={
        "pad": Voice("distorted guitar", 30, gain_db=-3, pan=-0.25, reverb=0.12),
        "lead": Voice("overdriven lead", 29, gain_db=-3, pan=0.2, reverb=0.2),
        "bass": Voice("picked bass", 34, reverb=0.03),
        "kit": Voice("rock kit", 0, is_drum=True, reverb=0.15),
        "arp": Voice("clean guitar", 27, gain_db=-6, pan=0.3, reverb=0.2),
    },
    harmony="power",
    bass="rock8",
    groove="rock",
    register={"bass": (28, 50), "harmony": (40, 67), "melody": (60, 86), "arp": (57, 81)},
    rhythm=((F(1, 2), 5), (F(1), 4), (F(1, 4), 1), (F(3, 2), 2), (F(2), 1)),
    reverb_seconds=1.2,
    density=0.6,
    intensity=0.75,
    rest=0.12,
    pickup="drums",
    intro_order=("drums", "harmony", "bass", "melody"),
    harmony_voices=3,
))

_add(Style(
    name="jazz",
    genre_words=("jazz", "jazzy", "swing", "bebop", "bossa", "bossa nova", "lounge", "big band", "piano bar", "noir", "blues"),
    flavor_words=("smooth", "smoky", "noir", "cocktail", "sophisticated", "speakeasy", "club"),
    tempo=(96, 140),
    meter=Meter(4, 4),
    prefers_minor=False,
    progressions_major=("Imaj7 vi7 ii7 V7", "Imaj7 VI7! ii7 V7", "Imaj9 vi9 ii9 V9", "Imaj7 vi7 ii7 V7 iii7 VI7! ii7 V7"),
    progressions_minor=("i7 iv7 iiø7 V7!", "i9 bVImaj7 iiø7 V7!", "i7 bIIImaj7 iiø7 V7!", "i7 IV7 i7 IV7"),
    cadences_major=("V7", "V9"),
    cadences_minor=("V7!", "iv7"),
    voices={
        "pad": Voice("piano", 0, gain_db=-2, pan=-0.15, reverb=0.25),
        "lead": Voice("tenor sax", 66, gain_db=-2, pan=0.15, reverb=0.3),
        "bass": Voice("upright bass", 32, reverb=0.08),
        "kit": Voice("jazz kit", 0, is_drum=True, gain_db=-3, reverb=0.2),
        "arp": Voice("jazz guitar", 26, gain_db=-6, pan=0.3, reverb=0.3),
    },
    harmony="comp",
    bass="walking",
    groove="jazz",
    register={"bass": (28, 55), "harmony": (52, 74), "melody": (60, 84), "arp": (60, 84)},
    rhythm=((F(1, 2), 6), (F(1), 3), (F(3, 2), 2), (F(2), 1)),
    reverb_seconds=1.5,
    density=0.6,
    intensity=0.45,
    allow_dim=True,
    swing=F(2, 3),
    leap=0.3,
    rest=0.15,
    pickup="melody",
    intro_order=("melody", "harmony", "bass", "drums"),
))

_add(Style(
    name="folk",
    genre_words=("folk", "acoustic", "celtic", "country", "bluegrass", "americana", "campfire", "tavern", "jig", "reel", "shanty"),
    flavor_words=("pastoral", "rustic", "village", "playful", "whimsical", "countryside", "medieval", "strumming",
                  "fiddle", "banjo", "mandolin", "accordion", "tin whistle", "bagpipes", "harmonica"),
    tempo=(92, 116),
    meter=Meter(4, 4),
    prefers_minor=False,
    progressions_major=("I IV I V", "I V vi IV", "I IV vi V", "I vi IV V", "I bVII! I IV"),
    progressions_minor=("i bVII bVI bVII", "i bIII i bVII", "i iv i bVII", "i bVII i v"),
    cadences_major=("V", "IV"),
    cadences_minor=("bVII", "v", "iv"),
    voices={
        "pad": Voice("acoustic guitar", 24, gain_db=-2, pan=-0.2, reverb=0.2),
        "lead": Voice("flute", 73, gain_db=-3, pan=0.15, reverb=0.3),
        "bass": Voice("acoustic bass", 32, reverb=0.08),
        "kit": Voice("hand percussion", 0, is_drum=True, gain_db=-5, reverb=0.2),
        "arp": Voice("mandolin", 24, gain_db=-6, pan=0.3, reverb=0.25),
    },
    harmony="strum",
    bass="root_fifth",
    groove="folk",
    register={"bass": (33, 55), "harmony": (52, 76), "melody": (62, 88), "arp": (60, 84)},
    rhythm=((F(1, 2), 4), (F(1), 4), (F(3, 2), 2), (F(2), 1)),
    reverb_seconds=1.4,
    density=0.5,
    intensity=0.45,
    leap=0.2,
    rest=0.08,
    pickup="melody",
    intro_order=("harmony", "melody", "bass", "drums"),
))

DEFAULT_STYLE = "ambient"


@dataclass(frozen=True)
class Instrument:
    """A prompt instrument word: the role it takes by default and its voice."""

    role: str  # pad | arp | lead | bass | kit | perc
    voice: Voice
    words: tuple[str, ...] = field(default=())


#: canonical instrument name -> Instrument. Longer phrases are matched first by the prompt parser.
INSTRUMENTS: dict[str, Instrument] = {
    "harp": Instrument("arp", Voice("harp", 46, pan=0.3, reverb=0.5), ("harp", "harps")),
    "strings": Instrument("pad", Voice("strings", 48, reverb=0.45), ("strings", "string section", "string", "soft strings")),
    "low strings": Instrument("bass", Voice("low strings", 48, reverb=0.4), ("low strings", "cellos", "basses")),
    "tremolo strings": Instrument("pad", Voice("tremolo strings", 44, reverb=0.5), ("tremolo strings", "tremolo")),
    "pizzicato": Instrument("arp", Voice("pizzicato strings", 45, reverb=0.35), ("pizzicato", "pizz")),
    "synth strings": Instrument("pad", Voice("synth strings", 50, reverb=0.4), ("synth strings",)),
    "taiko": Instrument("perc", Voice("taiko", 116, reverb=0.4), ("taiko", "taikos", "taiko drums", "war drums")),
    "timpani": Instrument("perc", Voice("timpani", 47, reverb=0.45), ("timpani", "timpani roll", "kettle drums")),
    "rhodes": Instrument("pad", Voice("rhodes", 4, reverb=0.3), ("rhodes", "rhodes piano", "electric piano", "e-piano", "wurlitzer")),
    "piano": Instrument("lead", Voice("piano", 0, reverb=0.4), ("piano", "grand piano", "keys")),
    "brass": Instrument("lead", Voice("brass", 61, reverb=0.4), ("brass", "staccato brass", "bright brass", "brass section", "horns")),
    "french horn": Instrument("lead", Voice("french horn", 60, reverb=0.45), ("french horn", "horn")),
    "trumpet": Instrument("lead", Voice("trumpet", 56, reverb=0.35), ("trumpet", "trumpets")),
    "trombone": Instrument("lead", Voice("trombone", 57, reverb=0.35), ("trombone", "trombones")),
    "tuba": Instrument("bass", Voice("tuba", 58, reverb=0.3), ("tuba",)),
    "glockenspiel": Instrument("lead", Voice("glockenspiel", 9, reverb=0.45), ("glockenspiel", "glock")),
    "celesta": Instrument("lead", Voice("celesta", 8, reverb=0.5), ("celesta", "celeste")),
    "music box": Instrument("lead", Voice("music box", 10, reverb=0.55), ("music box",)),
    "bells": Instrument("lead", Voice("tubular bells", 14, reverb=0.55), ("bells", "chimes", "tubular bells")),
    "vibraphone": Instrument("lead", Voice("vibraphone", 11, reverb=0.35), ("vibraphone", "vibes")),
    "marimba": Instrument("lead", Voice("marimba", 12, reverb=0.3), ("marimba", "xylophone")),
    "distorted guitar": Instrument("pad", Voice("distorted guitar", 30, reverb=0.12), ("distorted guitar", "distorted guitars", "heavy guitar", "metal guitar")),
    "overdriven guitar": Instrument("lead", Voice("overdriven guitar", 29, reverb=0.2), ("overdriven guitar", "guitar solo", "lead guitar")),
    "electric guitar": Instrument("pad", Voice("clean electric guitar", 27, reverb=0.2), ("electric guitar", "clean guitar", "jazz guitar")),
    "acoustic guitar": Instrument("pad", Voice("acoustic guitar", 25, reverb=0.2), ("acoustic guitar", "guitar", "guitars", "nylon guitar")),
    "banjo": Instrument("arp", Voice("banjo", 105, reverb=0.2), ("banjo",)),
    "mandolin": Instrument("arp", Voice("mandolin", 24, reverb=0.25), ("mandolin", "lute")),
    "bass guitar": Instrument("bass", Voice("bass guitar", 33, reverb=0.05), ("bass guitar", "electric bass")),
    "upright bass": Instrument("bass", Voice("upright bass", 32, reverb=0.08), ("upright bass", "double bass", "acoustic bass", "contrabass")),
    "synth bass": Instrument("bass", Voice("synth bass", 38, reverb=0.05), ("synth bass", "bassline")),
    "sub bass": Instrument("bass", Voice("sub bass", synth="sub_bass", reverb=0.05), ("sub bass", "808")),
    "cello": Instrument("bass", Voice("cello", 42, reverb=0.4), ("cello",)),
    "violin": Instrument("lead", Voice("violin", 40, reverb=0.4), ("violin", "violins", "solo violin")),
    "fiddle": Instrument("lead", Voice("fiddle", 110, reverb=0.3), ("fiddle",)),
    "viola": Instrument("pad", Voice("viola", 41, reverb=0.4), ("viola",)),
    "choir": Instrument("pad", Voice("choir", 52, reverb=0.55), ("choir", "choirs", "chorus", "voices", "chant")),
    "voice": Instrument("lead", Voice("voice", 53, reverb=0.5), ("vocal", "vocals", "humming", "ooh")),
    "flute": Instrument("lead", Voice("flute", 73, reverb=0.35), ("flute", "flutes")),
    "pan flute": Instrument("lead", Voice("pan flute", 75, reverb=0.4), ("pan flute", "panpipes")),
    "recorder": Instrument("lead", Voice("recorder", 74, reverb=0.3), ("recorder", "tin whistle", "whistle")),
    "ocarina": Instrument("lead", Voice("ocarina", 79, reverb=0.35), ("ocarina",)),
    "clarinet": Instrument("lead", Voice("clarinet", 71, reverb=0.35), ("clarinet",)),
    "oboe": Instrument("lead", Voice("oboe", 68, reverb=0.35), ("oboe",)),
    "saxophone": Instrument("lead", Voice("saxophone", 65, reverb=0.3), ("saxophone", "sax", "alto sax", "tenor sax")),
    "harmonica": Instrument("lead", Voice("harmonica", 22, reverb=0.25), ("harmonica",)),
    "accordion": Instrument("pad", Voice("accordion", 21, reverb=0.25), ("accordion",)),
    "organ": Instrument("pad", Voice("organ", 19, reverb=0.5), ("organ", "church organ")),
    "sitar": Instrument("lead", Voice("sitar", 104, reverb=0.3), ("sitar",)),
    "koto": Instrument("arp", Voice("koto", 107, reverb=0.35), ("koto",)),
    "shakuhachi": Instrument("lead", Voice("shakuhachi", 77, reverb=0.45), ("shakuhachi",)),
    "pad": Instrument("pad", Voice("warm pad", 89, reverb=0.55), ("pad", "pads", "soft pad", "warm pad")),
    "synth pad": Instrument("pad", Voice("saw pad", synth="saw_pad", reverb=0.4), ("synth pad", "analog pad")),
    "synth lead": Instrument("lead", Voice("saw lead", synth="saw_lead", reverb=0.35), ("synth lead", "lead synth", "synthesizer")),
    "drums": Instrument("kit", DRUM_KIT, ("drums", "drum kit", "percussion", "beat", "pounding drums", "light percussion")),
}
