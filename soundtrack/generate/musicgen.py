"""The `musicgen` generator: MusicGen (through `transformers`) text-to-music, conformed to the grid.

Optional: needs ``pip install soundtrack[neural]`` (torch and transformers). Nothing here imports
torch or transformers at module import; they load on the first generation, so the CLI, the
server and the sequencer start fast without them.

- **Weights** come from the user's Hugging Face cache or a local folder (`model`, default
  ``$SOUNDTRACK_MUSICGEN_MODEL`` or ``facebook/musicgen-small``). Nothing is downloaded unless
  the user allows it (``allow_download=True`` or ``SOUNDTRACK_ALLOW_DOWNLOAD=1``); otherwise a
  missing model is a GenerationError that says how to get it.
- **Device**: CUDA, then Apple MPS, then CPU, unless `device` is given.
- **Options from a graph or the CLI**: a graph's ``[generator]`` table (`model`, `device`,
  `guidance_scale`, `max_batch`) and ``soundtrack bank build --model`` / ``soundtrack generate
  --model`` reach this constructor (in every worker process). `version` is ``"2+MODEL"``
  (`CODE_VERSION`, the model) plus any non-default guidance or batch size, so the bank's cache
  key changes with the code and the model.
- **Prompt**: the spec's prompt plus role words, tempo, key and meter, e.g. ``"dark ambient,
  soft strings, opening intro that builds, 84 bpm, in D minor, 4/4 time"``. Tempo and meter
  are the spec's, else the ones its prompt names (read as the procedural generator reads them:
  "96 bpm", "7/8", "waltz"), else 120 bpm in 4/4.
- **Continuation**: `generate(spec, context=stem)` continues from the end of a previous stem
  (the model hears its last seconds as an audio prompt, and the prompt is sliced off the
  output); `generate_chain(specs)` makes a state's segments in order so each main follows the
  intro and the outro follows the first main. `soundtrack bank build` uses it for every state
  (one job per state), and a continuing stem's cache key holds the key it continues from.
- **Batching**: `generate_many(specs)` generates several variants in one batch (a GPU's cheap
  parallelism); the batch's random state comes from all of its specs' seeds.
- **Output**: 32 kHz mono, resampled (polyphase) to the spec's rate, made stereo, then
  conformed (`soundtrack.conform`) so the stem has an exact grid at the spec's tempo. The model
  gives a mix, not layers: the whole mix is stored in one layer (`harmony` if the spec has it,
  else its first), the other layers are silent.

Same spec, same model, same device and thread count: the same audio (sampling is seeded).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from contextlib import contextmanager
from fractions import Fraction
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from soundtrack.errors import AudioError, GenerationError, SpecError
from soundtrack.generate.prompt import prompt_meter, prompt_tempo
from soundtrack.pitch import Key
from soundtrack.stem import Stem, StemGrid, StemSpec
from soundtrack.timing import Meter

DEFAULT_MODEL = "facebook/musicgen-small"
MODEL_ENV = "SOUNDTRACK_MUSICGEN_MODEL"
DOWNLOAD_ENV = "SOUNDTRACK_ALLOW_DOWNLOAD"
MODEL_RATE = 32_000
TOKENS_PER_SECOND = 50
MAX_WINDOW_SECONDS = 28.0  # MusicGen was trained on 30 s clips; longer audio continues in windows
CONTEXT_SECONDS = 4.0  # how much of the previous segment the model hears
DEFAULT_TEMPO = Fraction(120)
CODE_VERSION = "2"  # 2: tempo and meter read from the prompt (generate.prompt, the procedural parser reads the same)
DEFAULT_GUIDANCE = 3.0
DEFAULT_MAX_BATCH = 4

ROLE_WORDS = {
    "intro": "opening intro that builds in",
    "main": "steady seamless loop, consistent groove",
    "outro": "ending outro with a final cadence that rings out",
    "stinger": "short punchy musical sting",
    "bridge": "short transition passage",
}
_MIX_LAYER_PREFERENCE = ("harmony", "bass")


def build_prompt(spec: StemSpec, *, tempo: Fraction, meter: Meter) -> str:
    """The text the model is conditioned on: prompt, role words, tempo, key, meter."""
    parts = [spec.prompt.strip().rstrip(",")] if spec.prompt.strip() else []
    parts.append(ROLE_WORDS[spec.role])
    if spec.tempo is not None or prompt_tempo(spec.prompt) is None:
        parts.append(f"{float(tempo):g} bpm")
    if spec.key is not None:
        parts.append(f"in {spec.key}")
    parts.append(f"{meter} time")
    return ", ".join(parts)


def spec_tempo(spec: StemSpec) -> Fraction:
    """The spec's tempo, else one named in its prompt ("96 bpm"), else 120."""
    if spec.tempo is not None:
        return spec.tempo
    named = prompt_tempo(spec.prompt)
    return DEFAULT_TEMPO if named is None else named


def spec_meter(spec: StemSpec) -> Meter:
    """The spec's meter, else one named in its prompt ("3/4", "waltz"), else 4/4."""
    return spec.meter or prompt_meter(spec.prompt) or Meter()


def _download_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def hash_tokenize(texts: Sequence[str], vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in tokenizer for a model without tokenizer files (a test model): each word to a
    stable id in ``[2, vocab_size)``, padded with 0. Returns (input_ids, attention_mask) int64."""
    rows = [[2 + int.from_bytes(hashlib.sha256(w.lower().encode()).digest()[:4], "big") % (vocab_size - 2)
             for w in re.findall(r"[\w#]+", t)] + [1] for t in texts]
    n = max(len(r) for r in rows)
    ids = np.zeros((len(rows), n), dtype=np.int64)
    mask = np.zeros((len(rows), n), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


OPTIONS = ("model", "device", "guidance_scale", "max_batch")  # what a graph's [generator] table may set
_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def validate_options(options: Mapping[str, Any], *, where: str = "[generator]") -> dict[str, Any]:
    """The constructor options a graph's ``[generator]`` table (or other data) gives, checked:
    `model` a model id or folder, `device` auto (dropped: auto is the default), cpu, cuda, cuda:N
    or mps, `guidance_scale` 1-20 (a float), `max_batch` 1-64. Raises SpecError naming `where`."""
    out: dict[str, Any] = {}
    for key, v in options.items():
        w = f"{where}.{key}"
        shown = repr(v) if len(repr(v)) <= 80 else repr(v)[:77] + "..."
        if key not in OPTIONS:
            raise SpecError(f"{w} is not a known key; valid keys are {', '.join(OPTIONS)}")
        if key in ("model", "device") and not isinstance(v, str):
            raise SpecError(f"{w} = {shown} must be a string")
        if key == "model":
            if not v.strip():
                raise SpecError(f"{w} = {shown} must be a model id such as facebook/musicgen-small or a folder")
            out[key] = v
        elif key == "device":
            if not _DEVICE_RE.fullmatch(v):
                raise SpecError(f"{w} = {shown} must be one of auto, cpu, cuda, cuda:N, mps")
            if v != "auto":
                out[key] = v
        elif key == "guidance_scale":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1.0 <= v <= 20.0:
                raise SpecError(f"{w} = {shown} must be between 1 (no guidance) and 20")
            out[key] = float(v)
        else:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
                raise SpecError(f"{w} = {shown} must be between 1 and 64")
            out[key] = v
    return out


class MusicgenGenerator:
    """MusicGen text-to-music, conformed to an exact grid (see the module docstring).

    `model`: a hub id, a local folder, or an already built `MusicgenForConditionalGeneration`
    (tests build a tiny random one from a config). `device`: "cuda", "mps", "cpu" or None (auto).
    `threads`: torch CPU threads while generating (None: torch's default). `tokenize`: texts ->
    (input_ids, attention_mask) for a model without tokenizer files (default: the model's
    processor, else `hash_tokenize`). `max_batch`: variants per forward pass.
    """

    name = "musicgen"
    validate_options = staticmethod(validate_options)

    def __init__(
        self,
        *,
        model: str | Any | None = None,
        device: str | None = None,
        allow_download: bool | None = None,
        guidance_scale: float = DEFAULT_GUIDANCE,
        threads: int | None = None,
        tokenize: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if model is None:
            model = os.environ.get(MODEL_ENV, DEFAULT_MODEL)
        if device == "auto":  # as a graph's [generator] table may say
            device = None
        if device is not None and device not in ("cuda", "mps", "cpu") and not str(device).startswith("cuda:"):
            raise GenerationError(f"device={device!r} must be cuda, cuda:N, mps, cpu or None (auto)")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise GenerationError(f"max_batch={max_batch!r} must be a positive int")
        self.model_ref = model
        self.requested_device = device
        self.allow_download = _download_allowed(allow_download)
        self.guidance_scale = float(guidance_scale)
        self.threads = threads
        self.tokenize = tokenize
        self.max_batch = max_batch
        self._model: Any = None if isinstance(model, str) else model
        self._processor: Any = None
        self._device: str | None = None

    # -- identity (the bank's cache key) -----------------------------------------------------
    @property
    def model_id(self) -> str:
        if isinstance(self.model_ref, str):
            return self.model_ref
        cfg = self.model_ref.config.to_dict()
        digest = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"config-{digest}"

    @property
    def version(self) -> str:
        """Code version, model id, and every non-default option that changes the audio
        (guidance; batch size, since a batch's random state comes from all of its specs)."""
        v = f"{CODE_VERSION}+{self.model_id}"
        if self.guidance_scale != DEFAULT_GUIDANCE:
            v += f"+guidance={self.guidance_scale:g}"
        if self.max_batch != DEFAULT_MAX_BATCH:
            v += f"+batch={self.max_batch}"
        return v

    # -- loading -----------------------------------------------------------------------------
    def _load(self) -> Any:
        if self._model is not None and self._device is not None:
            return self._model
        try:
            import torch  # noqa: F401
            from transformers import AutoProcessor, MusicgenForConditionalGeneration
        except ImportError as e:
            raise GenerationError(
                f"the musicgen generator needs torch and transformers ({e}); install them with "
                "pip install 'soundtrack[neural]'"
            ) from None
        if self._model is None:
            ref = str(self.model_ref)
            local_only = not self.allow_download
            try:
                self._model = MusicgenForConditionalGeneration.from_pretrained(ref, local_files_only=local_only)
            except (OSError, ValueError) as e:
                how = (
                    f"run once with {DOWNLOAD_ENV}=1 (or allow_download=True) to fetch it into the Hugging Face cache, "
                    f"or set {MODEL_ENV} (or model=) to a local folder holding its config.json and weights"
                )
                raise GenerationError(f"musicgen model {ref!r} is not available locally: {how} ({type(e).__name__})") from None
            try:
                self._processor = AutoProcessor.from_pretrained(ref, local_files_only=local_only)
            except (OSError, ValueError):
                self._processor = None  # weights without tokenizer files: hash_tokenize
        self._device = self._pick_device()
        self._model = self._model.to(self._device).eval()
        return self._model

    def _pick_device(self) -> str:
        import torch

        if self.requested_device is not None:
            if self.requested_device.startswith("cuda") and not torch.cuda.is_available():
                raise GenerationError(f"device={self.requested_device!r} but torch sees no CUDA device")
            return self.requested_device
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"

    @property
    def device(self) -> str:
        """The device generation runs on (loads the model to find out)."""
        self._load()
        assert self._device is not None
        return self._device

    @contextmanager
    def _threads(self) -> Iterator[None]:
        import torch

        if self.threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(self.threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # -- text --------------------------------------------------------------------------------
    def _encode_text(self, texts: Sequence[str]) -> tuple[Any, Any]:
        import torch

        if self.tokenize is not None:
            ids, mask = self.tokenize(texts)
        elif self._processor is not None:
            enc = self._processor(text=list(texts), padding=True, return_tensors="np")
            ids, mask = enc["input_ids"], enc["attention_mask"]
        else:
            ids, mask = hash_tokenize(texts, int(self._model.config.text_encoder.vocab_size))
        return (torch.as_tensor(np.asarray(ids), dtype=torch.long, device=self._device),
                torch.as_tensor(np.asarray(mask), dtype=torch.long, device=self._device))

    # -- raw audio ---------------------------------------------------------------------------
    def generate_audio(self, texts: Sequence[str], seconds: float, *, seed: int, context: np.ndarray | None = None) -> np.ndarray:
        """`seconds` of new audio per text, at 32 kHz mono: float32 (batch, frames).

        `context`: mono 32 kHz audio the model continues from (not included in the result).
        Longer than MusicGen's window, the audio is made in windows, each continuing the last.
        """
        import torch

        model = self._load()
        want = int(round(seconds * MODEL_RATE))
        ids, mask = self._encode_text(texts)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        ctx = None if context is None else np.repeat(np.asarray(context, np.float32)[None, :], len(texts), axis=0)
        window = 0
        with self._threads(), torch.inference_mode():
            while out.shape[1] < want:
                new_s = min(MAX_WINDOW_SECONDS - (0 if ctx is None else ctx.shape[1] / MODEL_RATE), (want - out.shape[1]) / MODEL_RATE)
                tokens = int(math.ceil(TOKENS_PER_SECOND * new_s)) + 3
                torch.manual_seed(seed + window)
                kw: dict[str, Any] = {}
                if ctx is not None and ctx.shape[1] > 0:
                    kw["input_values"] = torch.as_tensor(ctx[:, None, :], device=self._device)
                    kw["padding_mask"] = torch.ones((ctx.shape[0], ctx.shape[1]), dtype=torch.long, device=self._device)
                audio = model.generate(
                    input_ids=ids, attention_mask=mask, do_sample=True, guidance_scale=self.guidance_scale,
                    max_new_tokens=tokens, **kw,
                )
                a = audio[:, 0, :].float().cpu().numpy()
                prompt_len = 0 if ctx is None else ctx.shape[1]
                a = a[:, prompt_len:]
                if a.shape[1] == 0:
                    raise GenerationError(f"musicgen model {self.model_id!r} returned no new audio")
                out = np.concatenate([out, a], axis=1)
                ctx = out[:, -int(CONTEXT_SECONDS * MODEL_RATE):] if out.shape[1] < want else None
                window += 1
        return np.ascontiguousarray(out[:, :want], dtype=np.float32)

    # -- stems -------------------------------------------------------------------------------
    def generate(self, spec: StemSpec, *, context: Stem | None = None) -> Stem:
        """One stem; with `context`, it continues from the end of that stem's music."""
        return self.generate_many([spec], context=context)[0]

    def generate_many(self, specs: Sequence[StemSpec], *, context: Stem | None = None) -> list[Stem]:
        """Several stems (e.g. a state's main variants) in batches of `max_batch`, all continuing
        from `context` if given. Specs of one batch must share role, tempo, meter and bars."""
        specs = list(specs)
        for s in specs:
            if not isinstance(s, StemSpec):
                raise TypeError(f"generate_many() needs StemSpecs, got {type(s).__name__}")
        stems: list[Stem] = []
        for i in range(0, len(specs), self.max_batch):
            stems.extend(self._batch(specs[i : i + self.max_batch], context))
        return stems

    def generate_chain(self, specs: Sequence[StemSpec]) -> list[Stem]:
        """A state's segments in order (intro, main variants, outro): each main continues from the
        intro, the outro from the first main. Returns stems in the order given."""
        specs = list(specs)
        out: dict[int, Stem] = {}
        intro = [i for i, s in enumerate(specs) if s.role == "intro"]
        mains = [i for i, s in enumerate(specs) if s.role == "main"]
        rest = [i for i, s in enumerate(specs) if s.role not in ("intro", "main")]
        for i in intro:
            out[i] = self.generate(specs[i])
        ctx = out[intro[-1]] if intro else None
        for i, stem in zip(mains, self.generate_many([specs[i] for i in mains], context=ctx)):
            out[i] = stem
        main_ctx = out[mains[0]] if mains else ctx
        for i in rest:
            out[i] = self.generate(specs[i], context=main_ctx if specs[i].role == "outro" else None)
        return [out[i] for i in range(len(specs))]

    def _batch(self, specs: list[StemSpec], context: Stem | None) -> list[Stem]:
        from soundtrack.audio import resample
        from soundtrack.conform import conform

        first = specs[0]
        tempo = spec_tempo(first)
        meter = spec_meter(first)
        for s in specs[1:]:
            if (s.role, spec_tempo(s), spec_meter(s), s.bars, s.beats, s.sample_rate) != (
                first.role, tempo, meter, first.bars, first.beats, first.sample_rate
            ):
                raise GenerationError("specs batched together must share role, tempo, meter, length and sample rate")
        bars, beats = first.length(meter)
        margin = {"main": 2, "intro": 1, "outro": 2}.get(first.role, 1)  # spare bars conform can trim
        seconds = (bars + margin) * meter.beats * 60.0 / float(tempo)
        ctx = None
        if context is not None:
            body = context.mix[: context.grid.exit].mean(axis=1)
            ctx = resample(body, context.sample_rate, MODEL_RATE)[-int(CONTEXT_SECONDS * MODEL_RATE):]
        texts = [build_prompt(s, tempo=tempo, meter=meter) for s in specs]
        seed = int.from_bytes(hashlib.sha256(json.dumps([s.seed * 1000 + s.variant for s in specs]).encode()).digest()[:4], "big")
        raw = self.generate_audio(texts, seconds, seed=seed, context=ctx)
        stems = []
        for s, text, a in zip(specs, texts, raw):
            x = resample(a, MODEL_RATE, s.sample_rate)
            x = np.stack([x, x], axis=1)
            try:
                audio, grid = conform(x, s.sample_rate, role=s.role, bpm=tempo, meter=meter, bars=bars, no_beats="assume")
            except AudioError as e:
                raise GenerationError(f"musicgen {s.role} for {s.prompt!r}: cannot conform to the grid: {e}") from None
            if beats != bars * meter.beats:  # conform ends on a bar line; the spec ends inside the last bar
                exit_ = grid.beat_grid.beat_frame(beats)
                grid = StemGrid(grid.sample_rate, grid.bpm, grid.meter, grid.entry, exit_, grid.frames, grid.bars)
            stems.append(self._stem(s, audio, grid, text))
        return stems

    def _stem(self, spec: StemSpec, audio: np.ndarray, grid: StemGrid, text: str) -> Stem:
        key = spec.key
        if key is None:
            try:
                from soundtrack.analysis import estimate_key

                key = estimate_key(audio[grid.entry : grid.exit], grid.sample_rate).key
            except Exception:  # silence or noise: no key to find
                key = Key.parse("C major")
        holder = next((x for x in _MIX_LAYER_PREFERENCE if x in spec.layers), spec.layers[0])
        layers = {name: (audio if name == holder else np.zeros_like(audio)) for name in spec.layers}
        meta = {
            "generator": self.name,
            "generator_version": self.version,
            "model": self.model_id,
            "device": self._device,
            "text_prompt": text,
            "mix_layer": holder,
        }
        return Stem.from_layers(spec, grid, layers, key=key, style="musicgen", meta=meta)
