"""glassbench: firmware-in-the-loop test bench for BLE-audio wearables."""

__version__ = "0.1.0"
