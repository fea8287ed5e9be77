"""GATT layout of the Glasses Link Protocol, shared by the harness and the reference glasses."""

SERVICE_UUID = "7f1a0000-6c3b-4e0a-9d6c-3f5b8a2e4c10"

#: channel name -> (characteristic UUID, properties as the phone sees them)
CHANNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "control_in": ("7f1a0001-6c3b-4e0a-9d6c-3f5b8a2e4c10", ("write",)),
    "control_out": ("7f1a0002-6c3b-4e0a-9d6c-3f5b8a2e4c10", ("notify",)),
    "audio_up": ("7f1a0003-6c3b-4e0a-9d6c-3f5b8a2e4c10", ("notify",)),
    "audio_down": ("7f1a0004-6c3b-4e0a-9d6c-3f5b8a2e4c10", ("write",)),
    "media": ("7f1a0005-6c3b-4e0a-9d6c-3f5b8a2e4c10", ("notify",)),
}
