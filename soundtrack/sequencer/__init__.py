"""The state-graph sequencer: events and parameters in, audio blocks and markers out.

Pure and deterministic (no I/O, threads or sleeps); see `engine` for the semantics. Rooms:

- `engine`: `Sequencer`, the commands and the plans they make (what was defined and decided);
- `player`: the playhead: runs scheduled actions, mixes what sounds, the look-ahead;
- `actions`: the typed, frozen actions and their schedule;
- `resolver`: transition lookup and edit points, a pure function of playhead and graph;
- `grid`: spans of musical time, beat/bar markers, the one position labelling;
- `clips`: per-sample envelopes and clips (voices);
- `tracks`: plans' bookkeeping and logical voices;
- `automation`: parameter-driven layer gains;
- `limiter`: the look-ahead safety limiter;
- `transport`: master volume, pause/resume, the final fade-out;
- `snapshot`: saving and restoring a position;
- `plans`: the answers of stinger, parameter and tempo commands.
"""

from soundtrack.sequencer.engine import Sequencer
from soundtrack.sequencer.grid import MARKER_KINDS, Marker
from soundtrack.sequencer.plans import ParamChange, StingerPlan, TempoChange
from soundtrack.sequencer.resolver import TransitionPlan
from soundtrack.sequencer.transport import PauseChange, VolumeChange

__all__ = ["MARKER_KINDS", "Marker", "ParamChange", "PauseChange", "Sequencer", "StingerPlan", "TempoChange",
           "TransitionPlan", "VolumeChange"]
