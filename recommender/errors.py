"""One exception hierarchy for all of eai.

Every error a user can cause derives from :class:`EaiError` and carries an
``exit_code``; the CLI turns these into one-line messages and distinct exit
statuses instead of tracebacks.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping


class EaiError(Exception):
    """Root of every error eai raises on purpose.

    Attributes:
        exit_code: Process exit status the CLI uses for this error.
    """

    exit_code: int = 1


class InvalidInputError(EaiError):
    """A user-supplied value (flag, spec, file) is malformed or out of range."""

    exit_code = 2


class SpecError(InvalidInputError):
    """A requirements spec failed validation."""

    exit_code = 2


class UnknownNameError(InvalidInputError):
    """A name (platform, model, task, quantization, importer) is not known.

    Suggestions are ranked by what the user most likely meant
    (:func:`rank_suggestions`): ``llama3.1-8b`` suggests the Llama-3.1-8B models,
    not TinyLlama. They are computed when first read (the message or ``suggestions``),
    since importers raise and catch this error for thousands of names they skip.

    Attributes:
        kind: Catalog kind (``model``, ``platform``...).
        name: The name as given.
        suggestions: Close names offered, best first.
    """

    exit_code = 2

    def __init__(
        self, kind: str, name: str, known: Iterable[str], hint: str = "", canonical: Mapping[str, str] | None = None
    ) -> None:
        """Args:
            kind: Catalog kind (``model``, ``platform``...).
            name: The name as given.
            known: Names that exist (a mapping's keys).
            hint: Where the names are listed.
            canonical: Every name (ids and aliases) -> canonical id; when given, the
                suggestions are canonical ids, each once.
        """
        super().__init__()
        self.kind = kind
        self.name = name
        self.hint = hint
        self._known = canonical if canonical is not None else list(known)
        self._suggestions: list[str] | None = None

    @property
    def suggestions(self) -> list[str]:
        if self._suggestions is None:
            known = self._known
            self._suggestions = rank_suggestions(self.name, known if isinstance(known, Mapping) else sorted(set(known)))
        return self._suggestions

    @suggestions.setter
    def suggestions(self, value: list[str]) -> None:
        self._suggestions = list(value)

    def __str__(self) -> str:
        if self.args:  # a message set by the raiser
            return str(self.args[0])
        msg = f"unknown {self.kind} {self.name!r}"
        if self.suggestions:
            msg += f"; did you mean {', '.join(repr(c) for c in self.suggestions)}?"
        else:
            known = sorted(set(self._known.values()) if isinstance(self._known, Mapping) else set(self._known))
            preview = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            msg += f"; known: {preview}"
        if self.hint:
            msg += f" ({self.hint})"
        return msg


class AmbiguousNameError(UnknownNameError):
    """A name matches several catalog entries (``A100``: PCIe 40 GB, SXM4 40 GB, SXM4 80 GB).

    eai asks which instead of picking one: the variants differ in memory, bandwidth and
    power, so the answer would differ too.

    Attributes:
        kind: Catalog kind.
        name: The name as given.
        suggestions: The canonical ids it matches, in catalog order.
    """

    exit_code = 2

    def __init__(self, kind: str, name: str, matches: Iterable[str], hint: str = "") -> None:
        found = list(dict.fromkeys(matches))
        shown = found[:8]
        more = f" and {len(found) - len(shown)} more" if len(found) > len(shown) else ""
        msg = (
            f"{kind} {name!r} is ambiguous: it matches {len(found)} entries "
            f"({', '.join(repr(m) for m in shown)}{more}); name one of them"
        )
        if hint:
            msg += f" ({hint})"
        InvalidInputError.__init__(self, msg)
        self.kind = kind
        self.name = name
        self.hint = hint
        self._known = found
        self._suggestions = found


_NUMBER = re.compile(r"\d+(?:\.\d+)*[a-z]*")


@functools.lru_cache(maxsize=65536)
def _tokens_cached(name: str) -> tuple[str, ...]:
    return tuple(name_tokens(name))


def name_tokens(name: str) -> list[str]:
    """Words of a name, lower case: ``meta-llama/Llama-3.1-8B`` -> meta, llama, llama, 3.1, 8b.

    Splits at every character that is not a letter, digit or a dot between digits, and
    between a word of three or more letters and a following number (``llama3.1`` ->
    ``llama``, ``3.1``; ``qwen2.5`` -> ``qwen``, ``2.5``), but keeps short codes such as
    ``a100``, ``h100`` and sizes such as ``8b``, ``40gb`` whole.
    """
    out: list[str] = []
    for part in re.split(r"[^a-z0-9.]+|(?<!\d)\.|\.(?!\d)", name.lower()):
        if not part:
            continue
        m = re.fullmatch(r"([a-z]{3,})(\d.*)", part)
        out.extend(m.groups() if m else (part,))
    return out


def _word_weight(word: str) -> float:
    """Names and codes (``llama``, ``pcie``, ``h100``) weigh twice what numbers and sizes
    (``3.1``, ``8b``, ``40gb``) do."""
    return 1.0 if word[:1].isdigit() else 2.0


def _word_match(q: str, c: str) -> float:
    """How well a typed word matches a candidate word: 1, 0.5 (close) or 0."""
    if c == q:
        return 1.0
    qn, cn = _NUMBER.fullmatch(q), _NUMBER.fullmatch(c)
    if qn or cn:
        if not (qn and cn):
            return 0.0
        # 8 ~ 8b (a unit added) and 3 ~ 3.1 (a minor version added); never 8b ~ 80b or 3.1 ~ 3.2
        for a, b in ((q, c), (c, q)):
            rest = b[len(a):]
            if b.startswith(a) and (rest.isalpha() or re.fullmatch(r"\.\d+", rest)):
                return 0.5
        return 0.0
    if q.isalpha() and c.isalpha() and len(q) >= 3 and len(c) >= 3 and (c.startswith(q) or q.startswith(c)):
        return 0.5  # instr ~ instruct (words only: a10 is no prefix of a100)
    if len(q) >= 3 and difflib.SequenceMatcher(None, q, c).ratio() >= 0.8:
        return 0.5  # lama ~ llama, h10 ~ h100
    return 0.0


def _token_score(query: list[str], cand: list[str]) -> tuple[float, int]:
    """(weighted share of the typed words found in the candidate, candidate words not asked for).

    A word counts fully when the candidate has it, half when it is close
    (:func:`_word_match`), never inside another word (``llama`` does not match
    ``tinyllama``).
    """
    if not query:
        return 0.0, len(cand)
    hit = total = 0.0
    used: set[int] = set()
    for q in query:
        best, where = 0.0, -1
        for j, c in enumerate(cand):
            if j not in used:
                m = _word_match(q, c)
                if m > best:
                    best, where = m, j
                    if m == 1.0:
                        break
        if where >= 0:
            used.add(where)
        w = _word_weight(q)
        hit += best * w
        total += w
    return hit / total, len(cand) - len(used)


def rank_suggestions(name: str, known: Iterable[str] | Mapping[str, str], limit: int = 5) -> list[str]:
    """Known names closest to what ``name`` most likely meant, best first.

    Ranked by the weighted share of the name's words each candidate contains (exact
    words and numbers first, see :func:`name_tokens`), then by how few other words it
    adds (so a base model comes before its instruct variant, both before the 70B), then
    by character similarity. Candidates that contain every word are all offered (up to
    ``limit``); otherwise the three best that hold half the words; otherwise character
    similarity alone (typos such as ``a10o``).

    Args:
        name: What the user typed.
        known: Candidate names, or a mapping of every name (id and aliases) to its
            canonical id; suggestions are then canonical ids, each once.
        limit: Most suggestions returned.

    Returns:
        Suggested names (possibly empty).
    """
    canon = dict(known) if isinstance(known, Mapping) else {k: k for k in known}
    query = name_tokens(name)
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    best: dict[str, tuple[float, int, float]] = {}
    for k, cid in canon.items():
        # with and without the organization ("meta-llama/"), which nobody types twice
        for text in dict.fromkeys((k, k.rsplit("/", 1)[-1])):
            share, extra = _token_score(query, list(_tokens_cached(text)))
            ratio = difflib.SequenceMatcher(None, flat, re.sub(r"[^a-z0-9]", "", text.lower())).ratio()
            score = (share, -extra, ratio)
            if cid not in best or score > best[cid]:
                best[cid] = score
    ranked = sorted(best, key=lambda c: (tuple(-x for x in best[c]), c))
    full = [c for c in ranked if best[c][0] >= 1.0]
    if full:
        return full[:limit]
    good = [c for c in ranked if best[c][0] >= 0.5]
    if good:
        return good[:3]
    lowered = name.lower()
    by_lower: dict[str, str] = {}
    for k in canon:
        by_lower.setdefault(k.lower(), k)
    close = [by_lower[k] for k in difflib.get_close_matches(lowered, list(by_lower), n=3, cutoff=0.6)]
    if not close:
        close = [k for k in canon if len(lowered) >= 3 and (lowered in k.lower() or k.lower() in lowered)][:3]
    return list(dict.fromkeys(canon[k] for k in close))


def full_matches(name: str, names: Mapping[str, str], versioned: bool = False) -> list[str]:
    """Canonical ids having a name that contains every word of ``name`` exactly.

    ``A100`` is fully contained in ``A100 PCIe`` and ``A100-SXM4-80GB``; ``llama3.1-8b`` in
    ``meta-llama/Llama-3.1-8B`` and ``meta-llama/Llama-3.1-8B-Instruct``. Two or more such
    entries make the name ambiguous (:class:`AmbiguousNameError`).

    Args:
        name: What the user typed.
        names: Every name (id and aliases) -> canonical id.
        versioned: Names carry version numbers (models): an entry whose extra words include
            a bare version number is another generation and does not match.

    Returns:
        Matching canonical ids in ``names`` order, each once.
    """
    query = name_tokens(name)
    out: dict[str, None] = {}
    if not query:
        return []
    need = set(query)
    for k, cid in names.items():
        cand = _tokens_cached(k)
        # every word exactly (a cheap set test first: importers call this for every name they skip)
        if need <= set(cand) and _token_score(query, list(cand))[0] >= 1.0:
            # Where names carry versions (models), one the name leaves out is another
            # generation, not a variant of it: tiiuae/falcon-7b (2023) is neither of
            # tiiuae/Falcon3-7B-Base and -Instruct (2024). (A GPU's "SXM4" splits into a number.)
            if versioned and any(_VERSION.fullmatch(w) for w in set(cand) - need):
                continue
            out[cid] = None
    return list(out)


_VERSION = re.compile(r"\d+(?:\.\d+)*")
"""A word that is a bare version number (``3``, ``2.5``), not a size (``7b``) or a code (``a100``)."""


class InfeasibleError(EaiError):
    """No configuration satisfies the requirements."""

    exit_code = 3


class TableValidationError(InvalidInputError):
    """A measured table has a row that violates the schema.

    Attributes:
        path: File that was read.
        line: 1-based line number in that file (header is line 1 for CSV).
        column: Offending column name.
        value: Offending value as read.
    """

    exit_code = 4

    def __init__(self, path: str, line: int, column: str, value: object, reason: str) -> None:
        super().__init__(f"{path}:{line}: column {column!r} value {value!r}: {reason}")
        self.path = path
        self.line = line
        self.column = column
        self.value = value
        self.reason = reason


class DataSourceError(EaiError):
    """A source data set is missing or not in the expected format."""

    exit_code = 5


class ModelStateError(EaiError):
    """A fitted model is missing, stale for the current table, or unreadable."""

    exit_code = 6


class UnsupportedCombinationError(InvalidInputError):
    """A quantization/device/engine combination cannot run; says what would."""

    exit_code = 7


class MeasurementError(EaiError):
    """A measurement could not be taken (meter unavailable, window failed)."""

    exit_code = 8


class PredictionMissError(EaiError):
    """``eai verify``: the measurement lies outside the model-only 90% prediction interval."""

    exit_code = 9


class OutputError(EaiError):
    """An output could not be written (disk full, no permission, no such directory).

    Attributes:
        path: Where eai tried to write (``<stdout>`` for standard output).
    """

    exit_code = 10

    def __init__(self, path: object, exc: OSError | str) -> None:
        reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
        where = "to standard output" if str(path) == "<stdout>" else str(path)
        super().__init__(f"cannot write {where}: {reason}")
        self.path = str(path)
