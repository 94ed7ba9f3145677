"""The unified vocabulary: special tokens first, then one contiguous id range per modality.

Every modality's tokenizer emits local ids ``0..n-1``; the vocabulary shifts them into its range so one
embedding table and one output head serve text, state, image codes and action tokens. Decoders restrict
their sampling to a modality's range (``Vocab.range``), as every discrete VLA decoder does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Block markers open and close every modality block; ``img`` is the placeholder id at positions whose
# input embedding is a continuous image feature (the current camera images enter as patch features).
SPECIALS: tuple[str, ...] = (
    "pad", "mask", "bot", "eot", "sost", "eost", "soi", "eoi", "img", "soa", "eoa",
)
MODALITIES: tuple[str, ...] = ("text", "state", "image", "action")


@dataclass(frozen=True)
class Vocab:
    """Sizes of each modality's local vocabulary; ids are laid out specials, text, state, image, action."""

    text: int
    state: int
    image: int
    action: int

    def __post_init__(self) -> None:
        for name in MODALITIES:
            if getattr(self, name) < 1:
                raise ValueError(f"vocabulary size of {name!r} must be at least 1, got {getattr(self, name)}")

    @property
    def size(self) -> int:
        return len(SPECIALS) + self.text + self.state + self.image + self.action

    def special(self, name: str) -> int:
        try:
            return SPECIALS.index(name)
        except ValueError:
            raise KeyError(f"unknown special token {name!r}; known: {', '.join(SPECIALS)}") from None

    def range(self, modality: str) -> range:
        """Global ids ``[lo, hi)`` of one modality."""
        if modality not in MODALITIES:
            raise KeyError(f"unknown modality {modality!r}; known: {', '.join(MODALITIES)}")
        lo = len(SPECIALS)
        for name in MODALITIES:
            n = getattr(self, name)
            if name == modality:
                return range(lo, lo + n)
            lo += n
        raise AssertionError("unreachable")

    def to_global(self, modality: str, local_ids):  # noqa: ANN001 - numpy or torch, same arithmetic
        return local_ids + self.range(modality).start

    def to_local(self, modality: str, global_ids):  # noqa: ANN001
        r = self.range(modality)
        return (global_ids - r.start).clip(0, len(r) - 1)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)
