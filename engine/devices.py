"""The one list of devices and the one place that turns a device name into a torch device.

`DEVICES` is what every flag and form offers. `resolve_device` imports torch only when called,
so the CLI and the UI can import this module on their first frame's path. "auto" is CUDA, then
Apple MPS, then the CPU; a device that is named but absent is a `DeviceError` with one sentence,
which training turns into a failed job's reason and generation into a one-line CLI error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device that is unknown or absent on this machine; the message is one sentence."""


def resolve_device(name: str | None) -> torch.device:
    """The torch device for `name` ("auto", "cpu", "cuda", "cuda:N" or "mps"; None means the CPU)."""
    import torch

    name = (name or "cpu").strip().lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise DeviceError(
                f"CUDA was asked for, but this torch ({torch.__version__}, {build}) sees no CUDA GPU; "
                "use the device auto or cpu."
            )
        try:
            device = torch.device(name)
        except RuntimeError:
            raise DeviceError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)}.") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"There is no {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
        return device
    if name == "mps":
        if not mps:
            raise DeviceError(
                "Apple MPS was asked for, but this machine or torch has no MPS backend; use the device auto or cpu."
            )
        return torch.device("mps")
    raise DeviceError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)}.")
