"""Text <-> music: a small contrastive model that says how well a piece matches a sentence.

DITTO-2 (Novack et al. 2024b, section 3.4) turns an unconditional music model into a
text-controlled one by optimizing the initial noise until the CLAP score between the music and
a prompt is high. CLAP (Elizalde et al. 2023; LAION-CLAP, Wu et al. 2023) is a *contrastive*
model: a music encoder and a text encoder map into one space where a piece and a sentence that
describes it point the same way. Its score is the cosine of the two embeddings.

LAION-CLAP's weights cannot be fetched here, so dittoedu trains its own, small and on symbolic
music (``dittoedu train-text``): chorale windows paired with captions written from musical facts
that plain analyzers measure (:func:`dittoedu.metrics.attributes`: major/minor by music21's key
analysis, low/high register, calm/busy rhythm, rising/falling top voice), in free phrasing
("a sad, slow chorale with a falling melody"). Training pulls each window towards every caption
that is true of it and away from the others (a contrastive loss with several positives, after
CLIP's, Radford et al. 2021, eq. in Fig. 3)::

    s_ij = exp(tau) * cos(music_i, text_j)
    L = - mean_i log sum_{j true of i} softmax_j(s_ij)  - mean_j log sum_{i true of j} softmax_i(s_ij)

:class:`ClapScorer` is the optional adapter for LAION-CLAP itself, for users who have its files.

>>> prompt = parse_prompt("A gloomy, slow chorale in a low register, please!")
>>> prompt.requested
{'mode': 'minor', 'density': 'calm', 'register': 'low'}
>>> prompt.unknown
['please']
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .metrics import ATTRIBUTES, CONTOUR_EDGE, DENSITY_EDGES, REGISTER_EDGES, attribute_values
from .roll import N_PITCHES

# Words that name each value of each attribute (metrics.ATTRIBUTES). Captions are written with them,
# and a prompt is understood through them.
WORDS = {
    "mode": {"major": ("major", "bright", "happy", "cheerful", "joyful", "sunny"),
             "minor": ("minor", "dark", "sad", "melancholy", "gloomy", "mournful")},
    "register": {"low": ("low", "deep", "bass", "lower"),
                 "middle": ("middle", "medium", "mid", "central"),
                 "high": ("high", "lofty", "treble", "higher")},
    "density": {"calm": ("calm", "slow", "peaceful", "gentle", "relaxed", "sparse"),
                "moderate": ("moderate", "flowing", "walking", "moderately"),
                "busy": ("busy", "lively", "energetic", "fast", "active", "dense")},
    "contour": {"falling": ("falling", "descending", "sinking", "downward", "falls", "descends"),
                "level": ("level", "steady", "static", "even"),
                "rising": ("rising", "ascending", "climbing", "upward", "rises", "climbs")},
}
# Words that carry no attribute but belong to the way people talk about music: known, ignored.
FILLER = set("""a an the in on of with and but that this is are be very quite rather somewhat slightly really
key mode register range pitch pitched melody melodic line tune song chorale hymn piece music voices voice
notes note rhythm rhythmic texture harmony mood feel feeling sounding sound style top lead soprano bach
tonality tempo some something for four that like""".split())
NEGATIONS = {"not", "no", "without", "never", "nor", "isn", "don"}
VOCABULARY = sorted({w for values in WORDS.values() for words in values.values() for w in words})
WORD_INDEX = {w: i for i, w in enumerate(VOCABULARY)}
MEANING = {w: (attr, value) for attr, values in WORDS.items() for value, words in values.items() for w in words}


class PromptError(ValueError):
    """A prompt the text model cannot use, explained in the user's words."""


@dataclass
class Prompt:
    """A prompt as the text model reads it."""

    text: str
    requested: dict[str, str]  # attribute -> value the prompt asks for, in the order asked
    words: list[str]  # the attribute words it used
    unknown: list[str]  # words it does not know (ignored)
    warnings: list[str] = field(default_factory=list)  # what else it could not follow, in words


def parse_prompt(text: str) -> Prompt:
    """Read a prompt: the attributes it asks for, and the words it does not know.

    A word right after a negation ("not sad") is left out, with a warning: the text model
    knows what music is, not what it is not. Raises :class:`PromptError` if the prompt names no
    attribute at all, or asks for two values of one (``"happy sad"``).
    """
    tokens = re.findall(r"[a-z]+", str(text).lower())
    requested, words, unknown, warnings = {}, [], [], []
    for i, tok in enumerate(tokens):
        if tok in MEANING:
            attr, value = MEANING[tok]
            if i and tokens[i - 1] in NEGATIONS:
                warnings.append(f"'{tokens[i - 1]} {tok}' is left out: negation is not understood; "
                                "say what you want instead")
                continue
            if requested.get(attr, value) != value:
                raise PromptError(f"the prompt asks for both {requested[attr]!r} and {value!r} ({attr}); keep one")
            requested[attr] = value
            words.append(tok)
        elif tok not in FILLER and tok not in NEGATIONS and tok not in unknown:
            unknown.append(tok)
    if not requested:
        examples = ", ".join(WORDS[a][v][0] for a in WORDS for v in list(WORDS[a])[::2])
        raise PromptError(f"the prompt {text!r} names nothing the text model knows about music; "
                          f"use words such as {examples}")
    return Prompt(str(text), requested, words, unknown, warnings)


# ---------------------------------------------------------------------------------------------
# captions: facts measured on the music, said in words


# Templates for a list of phrases; those before a noun ("a {} chorale") take single adjectives only.
TEMPLATES = ["{}", "a chorale, {}", "something {}", "music that is {}", "a hymn: {}"]
ADJECTIVE_TEMPLATES = ["a {} chorale", "{} music", "a {} piece", "a {} hymn", "a {} tune for four voices"]
PHRASES = {"mode": ["{w}", "in a {w} key", "{w} mode"], "register": ["{w} register", "{w}", "in a {w} range"],
           "density": ["{w}", "{w} rhythm"], "contour": ["with a {w} melody", "{w} line", "{w}"]}
VERBS = {"falls", "descends", "rises", "climbs"}  # contour words that need a subject: "a melody that rises"


def attribute_index(rolls: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    """Value index of each attribute (order of metrics.ATTRIBUTES) for rolls ``[B, 2, P, T]``: ``[B, 4]``.

    ``modes [B]`` (0 major, 1 minor) come from music21's key analysis, done once per window.
    """
    v = attribute_values(rolls)

    def three(x, lo, hi):
        return (x >= lo).long() + (x > hi).long()

    return torch.stack([modes.long(), three(v["register"], *REGISTER_EDGES), three(v["density"], *DENSITY_EDGES),
                        three(v["contour"], -CONTOUR_EDGE, CONTOUR_EDGE)], 1)


def write_caption(facts: list[int], mention: list[bool], rng: np.random.Generator) -> str:
    """A caption stating the mentioned facts (value indices, order of metrics.ATTRIBUTES) in random words."""
    parts = []
    for (attr, values), k, say in zip(ATTRIBUTES.items(), facts, mention):
        if say:
            word = str(rng.choice(WORDS[attr][values[k]]))
            phrase = "a melody that {w}" if word in VERBS else rng.choice(PHRASES[attr])
            parts.append(phrase.format(w=word))
    rng.shuffle(parts)
    adjectives = all(" " not in p for p in parts)
    return rng.choice(TEMPLATES + ADJECTIVE_TEMPLATES if adjectives else TEMPLATES).format(", ".join(parts))


def tokenize(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Attribute-word indices of each prompt, flattened for :class:`torch.nn.EmbeddingBag`: ``(ids, offsets)``.

    As in :func:`parse_prompt`, a word right after a negation is left out.
    """
    ids, offsets = [], []
    for p in prompts:
        offsets.append(len(ids))
        tokens = re.findall(r"[a-z]+", p.lower())
        ids += [WORD_INDEX[t] for i, t in enumerate(tokens)
                if t in WORD_INDEX and not (i and tokens[i - 1] in NEGATIONS)]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# the model


@dataclass
class TextNetConfig:
    dim: int = 64  # size of the shared embedding space
    channels: int = 128  # width of the music encoder's convolutions
    segments: int = 4  # the music encoder pools time into this many parts (so it can tell rising from falling)
    profiles: int = 16  # learnt key profiles, matched against the piece's pitch classes in all 12 transpositions

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TextNetConfig":
        return cls(**d)


def chroma(rolls: torch.Tensor) -> torch.Tensor:
    """How long each pitch class sounds, normalized to zero mean and unit variance: ``[B, 12]`` (C first)."""
    from .roll import FRAME, LOW_PITCH

    per_pitch = ((rolls[:, FRAME] + 1) / 2).sum(-1)  # [B, P]: steps each pitch sounds
    per_pitch = torch.roll(per_pitch, LOW_PITCH % 12, dims=1)  # so that index 0 is a C
    pcs = per_pitch.reshape(per_pitch.shape[0], -1, 12).sum(1)
    return (pcs - pcs.mean(1, keepdim=True)) / (pcs.std(1, keepdim=True) + 1e-6)


def key_profile_scores(pcs: torch.Tensor, profiles: torch.Tensor) -> torch.Tensor:
    """Best match of each profile ``[K, 12]`` over the 12 transpositions of pitch classes ``[B, 12]``: ``[B, K]``.

    With the major and minor profiles of Krumhansl and Kessler (1982) this is Krumhansl and
    Schmuckler's key finding (the one music21 uses); here the profiles are learnt.
    """
    rotations = torch.stack([torch.roll(pcs, -r, dims=1) for r in range(12)], 1)  # [B, 12 tonics, 12]
    return (rotations @ profiles.T / 12).amax(1)


class TextMusicNet(nn.Module):
    """A music encoder (1-D convolutions over time with pitches as channels, plus learnt key profiles)
    and a text encoder (mean of word vectors)."""

    def __init__(self, config: TextNetConfig = TextNetConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.music = nn.Sequential(
            nn.Conv1d(2 * N_PITCHES, c, 5, padding=2), nn.GELU(),
            nn.Conv1d(c, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(c, c, 3, stride=2, padding=1), nn.GELU(),
        )
        self.profiles = nn.Parameter(0.3 * torch.randn(config.profiles, 12))
        self.music_out = nn.Linear(c * config.segments + config.profiles, config.dim)
        self.words = nn.EmbeddingBag(len(VOCABULARY), config.dim, mode="mean")
        self.text_out = nn.Linear(config.dim, config.dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's learnt temperature

    def embed_music(self, rolls: torch.Tensor) -> torch.Tensor:
        """Unit vectors ``[B, dim]`` for rolls ``[B, 2, P, T]`` in [-1, 1]."""
        h = self.music(rolls.flatten(1, 2))
        h = F.adaptive_avg_pool1d(h, self.config.segments).flatten(1)
        keys = key_profile_scores(chroma(rolls), self.profiles)
        return F.normalize(self.music_out(torch.cat([h, keys], 1)), dim=-1)

    def embed_text(self, prompts: list[str]) -> torch.Tensor:
        """Unit vectors ``[B, dim]`` for prompts (only their attribute words count)."""
        ids, offsets = tokenize(prompts)
        device = self.text_out.weight.device
        return F.normalize(self.text_out(self.words(ids.to(device), offsets.to(device))), dim=-1)


class TextMusic(nn.Module):
    """The trained pair of encoders, as the trainer and :func:`load` hand it out (the network is ``.net``)."""

    def __init__(self, net: TextMusicNet):
        super().__init__()
        self.net = net

    def forward(self, rolls: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """Cosine similarity of each roll ``[B, 2, P, T]`` with each prompt: ``[B, len(prompts)]``."""
        return self.net.embed_music(rolls) @ self.net.embed_text(prompts).T


def contrastive_loss(model: TextMusic, batch: "CaptionBatch", *, generator=None) -> torch.Tensor:
    """CLIP's symmetric loss with several positives: caption j is a positive of window i when it is true of it."""
    m = model.net.embed_music(batch.rolls)
    t = model.net.embed_text(batch.captions)
    logits = model.net.log_scale.exp().clamp(max=100) * m @ t.T  # [B music, B captions]
    said = batch.mention >= 0  # [B, 4]
    true = ((batch.facts[:, None, :] == batch.mention[None, :, :]) | ~said[None, :, :]).all(-1)  # [B, B]
    neg = torch.tensor(-1e4, dtype=logits.dtype)
    music_to_text = torch.logsumexp(torch.where(true, logits, neg), 1) - torch.logsumexp(logits, 1)
    text_to_music = torch.logsumexp(torch.where(true, logits, neg), 0) - torch.logsumexp(logits, 0)
    return -(music_to_text.mean() + text_to_music.mean()) / 2


# ---------------------------------------------------------------------------------------------
# training data: chorale windows with captions


@dataclass
class CaptionBatch:
    rolls: torch.Tensor  # [B, 2, P, T]
    facts: torch.Tensor  # [B, 4] value index of each attribute
    mention: torch.Tensor  # [B, 4] value index the caption states, -1 where it says nothing
    captions: list[str]


class CaptionedWindows:
    """Chorale windows that start on a bar line, with their mode (music21, cached) and fresh captions."""

    def __init__(self, split: str = "train", *, n_steps: int = 64, transpose: int = 6, progress: bool = True):
        from .corpus import ChoraleWindows

        self.windows = ChoraleWindows(split, n_steps=n_steps, transpose=transpose, progress=progress)
        self.keys = [k for k, (_, t) in enumerate(self.windows.index) if t % 16 == 0]
        self.modes = torch.tensor(_modes(self.windows, self.keys, split, progress=progress))

    def __len__(self) -> int:
        return len(self.keys)

    def batch(self, batch_size: int, *, generator: torch.Generator | None = None, augment: bool = True,
              p_mention: float = 0.6) -> CaptionBatch:
        picks = torch.randint(len(self.keys), (batch_size,), generator=generator).tolist()
        rolls = []
        for j in picks:
            k = self.keys[j]
            shifts = self.windows.allowed_shifts(k) if augment else range(0, 1)
            rolls.append(self.windows.window(k, shifts[int(torch.randint(len(shifts), (1,), generator=generator))]))
        rolls = torch.stack(rolls)
        facts = attribute_index(rolls, self.modes[picks])
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
        mention = rng.random(facts.shape) < p_mention
        mention[np.arange(batch_size), rng.integers(0, facts.shape[1], batch_size)] = True  # say at least one thing
        captions = [write_caption(f, m, rng) for f, m in zip(facts.tolist(), mention.tolist())]
        return CaptionBatch(rolls, facts, torch.where(torch.from_numpy(mention), facts, -1), captions)


def _modes(windows, keys: list[int], split: str, *, progress: bool) -> list[int]:
    """Mode (0 major, 1 minor) of each window by music21's key analysis; cached beside the corpus (~1 min)."""
    from tqdm.auto import tqdm

    from .corpus import cache_dir
    from .metrics import key_fit
    from .roll import roll_to_notes

    path = cache_dir() / f"text-modes-v1-{split}-{windows.n_steps}.json"
    names = [f"{windows.chorales[windows.index[k][0]].name}@{windows.index[k][1]}" for k in keys]
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("names") == names:
            return cached["modes"]
    modes = [int(key_fit(roll_to_notes(windows.window(k)))[1].endswith("minor"))
             for k in tqdm(keys, desc=f"key analysis ({split})", disable=not progress)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"names": names, "modes": modes}))
    return modes


# ---------------------------------------------------------------------------------------------
# loading, and LAION-CLAP for those who have it


def load(path, *, device="cpu") -> TextMusic:
    """The text-music model of a checkpoint (EMA weights), in eval mode. Never unpickles."""
    from safetensors.torch import load_file

    from .train import CheckpointError, TextConfig, _load_state, read_metadata

    meta = read_metadata(path)
    if meta.get("kind") != "text":
        raise CheckpointError(f"{path} holds a {meta.get('kind')!r} model, not a text-music model")
    config = TextConfig.from_json(meta["config"])
    tensors = load_file(str(path), device=str(device))
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else "net."
    net = TextMusicNet(config.net).to(device)
    _load_state(net, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, path)
    return TextMusic(net).eval().requires_grad_(False)


CLAP_HELP = """LAION-CLAP needs two things on disk, and dittoedu never downloads them:
  1. a CLAP checkpoint, e.g. 'music_audioset_epoch_15_esc_90.14.pt' (HTSAT-base, trained on music)
     from the LAION-CLAP releases (https://huggingface.co/lukewys/laion_clap);
  2. the 'roberta-base' text model as a folder (config.json, vocab.json, merges.txt and the weights)
     from https://huggingface.co/roberta-base.
Copy them to this computer, then: pip install "dittoedu[clap]" and
    ClapScorer(checkpoint="path/to/the.pt", text_model="path/to/roberta-base")."""


@contextlib.contextmanager
def _roberta_from(folder):
    """While active, ``from_pretrained("roberta-base")`` of transformers' RoBERTa classes reads ``folder`` offline.

    LAION-CLAP asks for ``"roberta-base"`` by name, which would mean a model hub; this points it at the
    user's copy instead.
    """
    import transformers

    classes = [transformers.RobertaModel, transformers.RobertaTokenizer, transformers.RobertaConfig]
    saved = {cls: cls.__dict__.get("from_pretrained") for cls in classes}
    for cls in classes:
        original = cls.from_pretrained.__func__

        def local(klass, name, *args, _original=original, **kwargs):
            if name == "roberta-base":
                name, kwargs = str(folder), {**kwargs, "local_files_only": True}
            return _original(klass, name, *args, **kwargs)

        cls.from_pretrained = classmethod(local)
    try:
        yield
    finally:
        for cls, method in saved.items():
            if method is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = method


class ClapScorer:
    """LAION-CLAP's text-audio score of rendered audio: an optional extra (see :data:`CLAP_HELP`).

    ``amodel`` is the checkpoint's audio encoder: ``"HTSAT-base"`` for the music checkpoints,
    ``"HTSAT-tiny"`` for ``630k-*.pt``. Fails at once, without touching the network, when the
    files or the package are missing.
    """

    def __init__(self, *, checkpoint=None, text_model=None, amodel: str = "HTSAT-base", device="cpu"):
        missing = [f"{what} ({p or 'not given'})" for what, p in (("checkpoint", checkpoint), ("text_model", text_model))
                   if not p or not Path(p).exists()]
        if missing:
            raise FileNotFoundError("LAION-CLAP files not found: " + ", ".join(missing) + "\n" + CLAP_HELP)
        os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # never wait on a model hub
        try:
            import laion_clap
        except ImportError as exc:
            raise ImportError('LAION-CLAP is not installed: pip install "dittoedu[clap]"\n' + CLAP_HELP) from exc
        with _roberta_from(text_model):
            self.model = laion_clap.CLAP_Module(enable_fusion=False, amodel=amodel, tmodel="roberta", device=device)
            self.model.load_ckpt(str(checkpoint), verbose=False)

    def score(self, audio: torch.Tensor, prompt: str, *, sr: int) -> float:
        """Cosine similarity of LAION-CLAP's embeddings of a waveform ``[N]`` at ``sr`` Hz and a prompt."""
        import torchaudio.functional as AF

        wave = AF.resample(audio.detach().float().cpu(), sr, 48_000)[None]  # CLAP listens at 48 kHz
        with torch.no_grad():
            a = self.model.get_audio_embedding_from_data(x=wave, use_tensor=True)
            t = self.model.get_text_embedding([prompt, prompt], use_tensor=True)[:1]  # it expects a batch of 2+
        return float(F.cosine_similarity(a, t).item())


# ---------------------------------------------------------------------------------------------
# evaluation and the model card


def zero_shot_accuracy(model: TextMusic, *, n: int = 512, seed: int = 5) -> dict[str, float]:
    """How often the best-scoring one-word prompt names each attribute of held-out chorale windows.

    For each attribute, every window is scored against one prompt per value (``"major"``,
    ``"minor"``; ``"low"``, ``"middle"``, ``"high"``; ...), and the best must be the value that
    the analyzers measured. Chance is 1/2 for the mode and 1/3 for the others.
    """
    val = CaptionedWindows("validation", transpose=6, progress=False)
    batch = val.batch(n, generator=torch.Generator().manual_seed(seed), augment=True)
    out = {}
    with torch.no_grad():
        for i, (attr, values) in enumerate(ATTRIBUTES.items()):
            sims = model(batch.rolls, [WORDS[attr][v][0] for v in values])
            out[attr] = float((sims.argmax(1) == batch.facts[:, i]).float().mean())
    return out


def write_model_card(checkpoint, out) -> dict:
    """Export the EMA weights to ``out`` and write a model card (``.md``, ``.json``) beside it."""
    from .train import TextConfig, export_weights, read_metadata

    checkpoint, out = Path(checkpoint), Path(out)
    meta = read_metadata(checkpoint)
    config = TextConfig.from_json(meta["config"])
    export_weights(checkpoint, out, extra={"model_card": out.with_suffix(".md").name})
    accuracy = zero_shot_accuracy(load(out))
    n_params = sum(p.numel() for p in TextMusicNet(config.net).parameters())
    card = {"name": out.stem, "kind": "text", "preset": config.preset, "steps": int(meta["step"]),
            "cpu_hours": round(float(meta["cpu_seconds"]) / 3600, 3), "parameters": n_params,
            "config": json.loads(config.to_json()), "zero_shot_accuracy": accuracy, "vocabulary": VOCABULARY}
    out.with_suffix(".json").write_text(json.dumps(card, indent=2))
    chance = {"mode": 0.5}
    rows = "\n".join(f"| {a} | {' / '.join(ATTRIBUTES[a])} | {100 * acc:.1f} % | {100 * chance.get(a, 1 / 3):.0f} % |"
                     for a, acc in accuracy.items())
    words = "\n".join(f"- {a}: " + "; ".join(f"*{v}*: {', '.join(ws)}" for v, ws in WORDS[a].items()) for a in WORDS)
    out.with_suffix(".md").write_text(f"""# Model card: {out.stem}

A small contrastive text-music model ({n_params / 1e6:.2f} M parameters: a 1-D convolutional music
encoder and a bag-of-words text encoder, {config.net.dim}-dimensional shared space) trained by
`dittoedu train-text --preset {config.preset}`: {card['steps']} steps at batch {config.batch_size},
AdamW lr {config.lr}, EMA {config.ema_decay}, {card['cpu_hours']} CPU-hours.

Data: 4-bar windows of the Bach chorales in music21's corpus that start on a bar line (training
split; transposed by up to ±{config.transpose} semitones), each paired at every step with a fresh caption
stating a random subset of its attributes as measured by `dittoedu.metrics.attributes` (no model
involved): mode by music21's key analysis, register (mean pitch), density (onsets per quarter per voice),
contour (top voice, last bar vs first). Loss: CLIP's symmetric contrastive loss where every caption
that is true of a window counts as a positive.

## Zero-shot accuracy on held-out chorale windows

The best of the one-word prompts for an attribute's values must be the value the analyzers measured
(512 validation windows, transposed by up to ±6 semitones).

| attribute | values | accuracy | chance |
|---|---|---|---|
{rows}

## Words it knows

{words}

Other words are ignored and reported (`dittoedu.textmusic.parse_prompt`); negation ("not sad") is not
understood.
""")
    return {"weights": str(out), "card": str(out.with_suffix(".md")), "zero_shot_accuracy": accuracy}
