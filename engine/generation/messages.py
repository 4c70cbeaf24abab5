"""The typed messages between the Generate pane and its model process (`python -m engine.generation.worker`).

Each message is a frozen dataclass; `encode` writes one as a line of JSON, and `decode_request` and
`decode_reply` read one back. A line that is not JSON, not a JSON object, of an unknown "op", or with
a field missing or of the wrong type is a `MessageError`: one sentence naming the problem (and the
request's token, when one could be read). Fields beyond those listed are ignored. Torch-free: the
pane imports this module on the app's first-frame path.

The pane sends one request per line on the process's stdin:

    {"op": "load", "job": "charlm"|"sentiment", "run": PATH}                      Load
    {"op": "generate", "token": N, "prompt": TEXT, "settings": [SETTINGS, ...]}    Generate (two: side by side)
    {"op": "settings", "settings": [SETTINGS, ...]}   UpdateSettings: live, from the next character
    {"op": "candidates", "settings": SETTINGS}        AskCandidates: the chart, when nothing is generating
    {"op": "cancel"}                                  Cancel
    {"op": "classify", "token": N, "text": TEXT}      Classify

and the process answers one reply per line on its stdout:

    {"op": "loaded", "job", "run", "name", "describe", "checkpoint", "step"}       Loaded
    {"op": "load_error", "job", "run", "error": TEXT}                              LoadError
    {"op": "begin", "token", "prompts": [TEXT, ...], "message": TEXT|null}         Begin
    {"op": "chunk", "token", "texts": [TEXT, ...], "produced": N, "candidates": [[CHAR, PROB, RAW], ...]}   Chunk
    {"op": "done", "token", "texts", "reason": "length"|"stop"|"cancelled", "produced", "candidates"}      Done
    {"op": "candidates", "candidates": [...]}                                      Candidates
    {"op": "classified", "token", "result": CLASSIFICATION}                        Classified
    {"op": "error", "token": N|null, "error": TEXT}                                Error

SETTINGS is an object of engine.generation.settings.SamplingSettings fields (a missing one takes its
default), validated as the settings themselves validate. CLASSIFICATION is
engine.generation.classify.Classification.to_json(). Texts come one per side; `produced` and the
candidates are the left side's. A "settings" or "candidates" request is answered by a candidates
reply only when a generation has run since the character model was loaded (it reads that
generation's last position); while generating, a "settings" request changes the running samplers.
The token of a generate or classify request comes back on every reply about it, so the pane can
drop the replies to what it no longer waits for.

Two replies never travel on the wire: the pane's side makes them up. `ProcessExited` says the
process ended (or could not start) and `Unreadable` carries the MessageError of a line it sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, get_type_hints

from engine.generation.classify import Classification, WordScore
from engine.generation.sampler import Candidate
from engine.generation.settings import GenerateInputError, SamplingSettings

Job = Literal["charlm", "sentiment"]
Reason = Literal["length", "stop", "cancelled"]


class MessageError(ValueError):
    """A line that is not a message: one sentence; `token` is the request's token when one could be read."""

    def __init__(self, sentence: str, token: int | None = None) -> None:
        super().__init__(sentence)
        self.token = token


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Load:
    """Load a run's model for one job (it replaces the model that job had)."""

    op: ClassVar[str] = "load"
    job: Job
    run: str


@dataclass(frozen=True)
class Generate:
    """Continue `prompt` once per settings (the same prompt and seed: two settings show two temperatures)."""

    op: ClassVar[str] = "generate"
    token: int
    prompt: str
    settings: tuple[SamplingSettings, ...]


@dataclass(frozen=True)
class UpdateSettings:
    """New settings for the running generation, one per side, from its next character."""

    op: ClassVar[str] = "settings"
    settings: tuple[SamplingSettings, ...]


@dataclass(frozen=True)
class AskCandidates:
    """The next-character distribution under `settings`, at the last generation's position."""

    op: ClassVar[str] = "candidates"
    settings: SamplingSettings


@dataclass(frozen=True)
class Cancel:
    """Stop the running generation after the character in hand."""

    op: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class Classify:
    """P(positive) for `text`, with each word's contribution."""

    op: ClassVar[str] = "classify"
    token: int
    text: str


# ------------------------------------------------------------------------------ replies


@dataclass(frozen=True)
class Loaded:
    op: ClassVar[str] = "loaded"
    job: Job
    run: str
    name: str
    describe: str
    checkpoint: str
    step: int  # the training step the checkpoint was saved at


@dataclass(frozen=True)
class LoadError:
    op: ClassVar[str] = "load_error"
    job: Job
    run: str
    error: str


@dataclass(frozen=True)
class Begin:
    """The prompts as the model reads them (characters outside its vocabulary dropped, `message` says which)."""

    op: ClassVar[str] = "begin"
    token: int
    prompts: tuple[str, ...]
    message: str | None


@dataclass(frozen=True)
class Chunk:
    """The characters of each side since the last chunk, and the distribution of the next one."""

    op: ClassVar[str] = "chunk"
    token: int
    texts: tuple[str, ...]
    produced: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Done:
    """The last characters and why the generation ended."""

    op: ClassVar[str] = "done"
    token: int
    texts: tuple[str, ...]
    reason: Reason
    produced: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Candidates:
    op: ClassVar[str] = "candidates"
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Classified:
    op: ClassVar[str] = "classified"
    token: int
    result: Classification


@dataclass(frozen=True)
class Error:
    """A request that failed or could not be read (`token` None when it had none)."""

    op: ClassVar[str] = "error"
    token: int | None
    error: str


# ------------------------------------------------------------------------------ made up by the pane's side


@dataclass(frozen=True)
class ProcessExited:
    """The model process ended with exit status `code`, or (`error`) could not start at all."""

    code: int | None
    error: str | None = None


@dataclass(frozen=True)
class Unreadable:
    """A line from the model process that decode_reply refused: its MessageError's sentence."""

    error: str


Request = Load | Generate | UpdateSettings | AskCandidates | Cancel | Classify
WireReply = Loaded | LoadError | Begin | Chunk | Done | Candidates | Classified | Error
Reply = WireReply | ProcessExited | Unreadable

REQUESTS: tuple[type[Request], ...] = (Load, Generate, UpdateSettings, AskCandidates, Cancel, Classify)
REPLIES: tuple[type[WireReply], ...] = (Loaded, LoadError, Begin, Chunk, Done, Candidates, Classified, Error)


# ------------------------------------------------------------------------------ encoding and decoding


def encode(message: Request | WireReply) -> str:
    """One line of JSON (without its newline) for `message`."""
    values = {name: field.write(getattr(message, name)) for name, field in _FIELDS[type(message)]}
    return json.dumps({"op": message.op, **values})


def decode_request(line: str | bytes) -> Request:
    """The request on one line (MessageError with one sentence when it is not one)."""
    message: Request = _decode(line, "request", _BY_OP["request"])
    return message


def decode_reply(line: str | bytes) -> WireReply:
    """The reply on one line (MessageError with one sentence when it is not one)."""
    message: WireReply = _decode(line, "reply", _BY_OP["reply"])
    return message


def _decode(line: str | bytes, side: str, kinds: Mapping[str, type]) -> Any:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as error:
        why = (
            f" ({error.msg[:1].lower()}{error.msg[1:]} at character {error.pos})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise MessageError(f"The {side} is not valid JSON{why}: {_shown(line)}.") from None
    if not isinstance(data, dict):
        raise MessageError(f"A {side} must be a JSON object, not {_kind(data)}.")
    token = data.get("token")
    token = token if isinstance(token, int) and not isinstance(token, bool) else None
    known = _listing(kinds)
    op = data.get("op")
    if not isinstance(op, str):
        raise MessageError(f'A {side} needs an "op" naming its kind, one of {known}.', token)
    kind = kinds.get(op)
    if kind is None:
        raise MessageError(f"Unknown {side} {_shown(op)}; the known ones are {known}.", token)
    values = {}
    for name, field in _FIELDS[kind]:
        if name not in data:
            raise MessageError(f'The "{op}" {side} lacks "{name}", which must be {field.what}.', token)
        try:
            values[name] = field.read(data[name])
        except _Unfit as unfit:
            problem = unfit.detail or f"must be {field.what}, not {_shown(data[name])}"
            raise MessageError(f'The "{op}" {side}\'s "{name}" {problem}.', token) from None
    return kind(**values)


class _Unfit(Exception):
    """A value that does not fit its field; `detail` (when given) says how, instead of 'must be X, not Y'."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class _Field:
    what: str  # the value expected, as the error sentence names it
    read: Callable[[Any], Any]  # the typed value from JSON; _Unfit when it does not fit
    write: Callable[[Any], Any] = lambda value: value  # the JSON value of a typed one


def _shown(value: Any, limit: int = 40) -> str:
    """A value quoted in a sentence: JSON, on one line, cut at `limit` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = json.dumps(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a number"


def _listing(kinds: Mapping[str, type]) -> str:
    names = list(kinds)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unfit
    return value


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unfit
    return value


def _number(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Unfit
    return float(value)


def _optional(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


def _choice(*choices: str) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in choices:
            raise _Unfit
        return str(value)

    return read


def _items(read: Callable[[Any], Any], *, least: int = 0) -> Callable[[Any], tuple[Any, ...]]:
    def read_all(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) < least:
            raise _Unfit
        return tuple(read(item) for item in value)

    return read_all


_SETTING_NAMES = tuple(item.name for item in fields(SamplingSettings))


def _settings(value: Any) -> SamplingSettings:
    if not isinstance(value, dict):
        raise _Unfit
    unknown = sorted(set(value) - set(_SETTING_NAMES))
    if unknown:
        raise _Unfit(f"have no setting {_shown(unknown[0])} (the settings are {', '.join(_SETTING_NAMES)})")
    try:
        return SamplingSettings(**value)
    except GenerateInputError as error:
        sentence = str(error).rstrip(".")
        raise _Unfit(f"are not usable: {sentence[:1].lower()}{sentence[1:]}") from None


def _candidate(value: Any) -> Candidate:
    if not isinstance(value, list) or len(value) != 3:
        raise _Unfit
    return Candidate(_text(value[0]), _number(value[1]), _number(value[2]))


def _span(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _Unfit
    return _whole(value[0]), _whole(value[1])


def _word(value: Any) -> WordScore:
    if not isinstance(value, dict):
        raise _Unfit
    known = value.get("known")
    if not isinstance(known, bool):
        raise _Unfit
    return WordScore(_text(value.get("token")), _span(value.get("span")), known, _number(value.get("contribution")))


def _classification(value: Any) -> Classification:
    if not isinstance(value, dict):
        raise _Unfit
    return Classification(
        probability=_number(value.get("probability")),
        logit=_number(value.get("logit")),
        words=_items(_word)(value.get("words")),
        method=_text(value.get("method")),
        truncated=_whole(value.get("truncated")),
        unscored=_whole(value.get("unscored")),
    )


#: How each type of field is read and written; every message's fields are one of these.
_FIELD_TYPES: dict[object, _Field] = {
    str: _Field("text", _text),
    int: _Field("a whole number", _whole),
    int | None: _Field("a whole number or null", _optional(_whole)),
    str | None: _Field("text or null", _optional(_text)),
    Job: _Field('"charlm" or "sentiment"', _choice("charlm", "sentiment")),
    Reason: _Field('"length", "stop" or "cancelled"', _choice("length", "stop", "cancelled")),
    tuple[str, ...]: _Field("a list of texts", _items(_text), list),
    SamplingSettings: _Field("an object of sampling settings", _settings, asdict),
    tuple[SamplingSettings, ...]: _Field(
        "a list of one or more objects of sampling settings",
        _items(_settings, least=1),
        lambda settings: [asdict(s) for s in settings],
    ),
    tuple[Candidate, ...]: _Field(
        "a list of [character, probability, raw probability]",
        _items(_candidate),
        lambda candidates: [[c.char, c.prob, c.raw] for c in candidates],
    ),
    Classification: _Field(
        "a classification (probability, logit, method, truncated and words)",
        _classification,
        lambda result: result.to_json(),
    ),
}

_FIELDS: dict[type, tuple[tuple[str, _Field], ...]] = {
    kind: tuple((item.name, _FIELD_TYPES[get_type_hints(kind)[item.name]]) for item in fields(kind))
    for kind in (*REQUESTS, *REPLIES)
}
_BY_OP: dict[str, dict[str, type]] = {
    "request": {kind.op: kind for kind in REQUESTS},
    "reply": {kind.op: kind for kind in REPLIES},
}
