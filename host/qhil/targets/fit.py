"""Whether a device can take a model: bytes against the room it has, widths, depth and the
format version its firmware reads. Checked before anything is sent or built, so a model
too big for a board is one line (bench's preflight, every load, every flash image)."""

from __future__ import annotations

from qhil.common.actor import FloatActor
from qhil.link.device import HelloInfo
from qhil.quant.blob import read_blob
from qhil.targets.info import ModelRoom

__all__ = ["does_not_fit", "FIRMWARE_FORMAT"]


def does_not_fit(blob: bytes, info: HelloInfo, room: ModelRoom | None = None) -> str | None:
    """Why the device that said ``info`` cannot take ``blob``, in bytes and widths (None:
    it can). Checked before anything runs, so a model too big for a board is one line.

    :param room: where the model goes and its bytes there (default: HELLO's RAM arena; a
        model compiled into flash is measured against the flash the firmware leaves)
    """
    model = read_blob(blob, device_image=True)
    sizes = (model.layer_sizes if isinstance(model, FloatActor)
             else [model.obs_dim] + [la.n_out for la in model.layers])
    version = int.from_bytes(blob[4:6], "little")
    where = f"{info.board or 'the device'} ({info.cpu or '?'})"
    room = room or ModelRoom(info.arena_bytes, "model arena")
    if len(blob) > room.bytes:
        has = "'s firmware leaves" if room.where == "flash" else " has"
        return f"the model needs {len(blob):,} bytes of {room.where}; {where}{has} {room.bytes:,}"
    if info.max_width and max(sizes) > info.max_width:
        return (f"the model has a layer {max(sizes)} wide; {where} accepts at most "
                f"{info.max_width}")
    if info.max_layers and len(sizes) - 1 > info.max_layers:
        return f"the model has {len(sizes) - 1} layers; {where} accepts at most {info.max_layers}"
    if version > info.model_format:
        needs = _VERSION_NEEDS.get(version, "a newer format")
        return (f"the model is format version {version} ({needs}); {where} runs firmware that "
                f"reads version {info.model_format}: " + (
                    "rebuild it" if version <= FIRMWARE_FORMAT else
                    "no qhil firmware runs it yet (qhil eval runs it on the host)"))
    return None


#: What each format version added (docs/model-format.md), for a firmware that predates it.
_VERSION_NEEDS = {2: "tanh or identity hidden layers", 3: "weights in a kernel's order",
                  4: "the tflite arithmetic"}
#: The newest format version qhil's own firmware reads.
FIRMWARE_FORMAT = 4
