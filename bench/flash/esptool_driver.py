"""esptool through its Python API (esptool >= 5): write_flash over the ROM loader, DTR/RTS hard reset.

Flash: ``detect_chip(port)`` (esptool's own DTR/RTS bootloader entry), the stub, ``attach_flash``,
``write_flash([(address, image)])``, ``reset_chip(esp, "hard-reset")``. Reset: esptool's
``HardReset`` strategy (EN pulled low by RTS, then released) on a pyserial port of our own, the
sequence the DevKitC's auto-program circuit and the USB-Serial-JTAG both understand. esptool's
``FatalError`` (no sync, wrong chip, flash failures) becomes a FlashError naming the port.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from bench.flash.base import FlashError, FlashOptions, FlashResult, call_with_timeout, check_image, register


class EsptoolOptions(FlashOptions):
    driver: Literal["esptool"] = "esptool"
    port: str = Field(description="the ESP's serial port (by-id path); 'auto' = the DUT's console port")
    baud: int = Field(460800, gt=0, description="flashing baud rate (the ROM loader starts at 115200)")
    chip: str = Field("auto", description="esp32, esp32s3, ... or auto (detect)")
    address: int = Field(0x0, ge=0, description="flash address of the image (0x0 for a merged binary)")
    before: Literal["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"] = "default-reset"
    usb_jtag: bool = Field(False, description="the port is the chip's own USB-Serial-JTAG (re-enumerates on reset)")
    connect_attempts: int = Field(3, ge=1, le=20)

    @field_validator("address", mode="before")
    @classmethod
    def _hex(cls, v: Any) -> Any:
        return int(v, 0) if isinstance(v, str) else v


def _esptool() -> Any:
    try:
        import esptool.cmds
        import esptool.reset
        import esptool.util
    except ImportError as exc:
        raise FlashError(f"driver esptool needs the esptool package (pip install 'esptool>=5'): {exc}") from None
    return esptool


@register("esptool", EsptoolOptions)
class Esptool:
    name = "esptool"

    def __init__(self, options: EsptoolOptions) -> None:
        self.options = options

    @staticmethod
    def open_port(url: str) -> Any:
        """The serial port for the DTR/RTS reset (a path or a pyserial URL such as rfc2217://)."""
        import serial

        return serial.serial_for_url(url, 115200, rtscts=False, dsrdtr=False, timeout=0.1)

    def flash(self, image: Path) -> FlashResult:
        image = check_image(image, (".bin",), self.name)
        o = self.options
        esptool = _esptool()
        cmds = esptool.cmds
        t0 = time.monotonic()

        def work() -> str:
            with cmds.detect_chip(o.port, 115200, connect_mode=o.before, connect_attempts=o.connect_attempts) as esp:
                if o.chip != "auto" and esp.CHIP_NAME.lower().replace("-", "") != o.chip.lower().replace("-", ""):
                    raise FlashError(f"{o.port}: expected chip {o.chip}, found {esp.CHIP_NAME}")
                chip = esp.CHIP_NAME
                esp = cmds.run_stub(esp)
                if o.baud != 115200:
                    esp.change_baud(o.baud)
                cmds.attach_flash(esp)
                cmds.write_flash(esp, [(o.address, str(image))])
                cmds.reset_chip(esp, "hard-reset")
                return str(chip)
        chip = self._call(work, o.timeout_s, f"esptool write_flash on {o.port}")
        return FlashResult(self.name, "flash", ["esptool.cmds.write_flash", o.port, hex(o.address), str(image)],
                           time.monotonic() - t0, details={"chip": chip})

    def reset(self) -> FlashResult:
        o = self.options
        esptool = _esptool()
        t0 = time.monotonic()

        def work() -> None:
            import serial

            try:
                port = self.open_port(o.port)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise FlashError(f"cannot open {o.port} for the DTR/RTS reset: {exc}") from None
            try:
                try:   # idle levels (EN and IO0 high); esptool only warns when the port has no modem lines
                    port.dtr = False
                    port.rts = False
                except (serial.SerialException, OSError) as exc:
                    raise FlashError(f"{o.port} has no DTR/RTS control ({exc}): the reset cannot reach the chip; "
                                     "use a USB-UART with modem lines or the chip's USB-Serial-JTAG") from None
                esptool.reset.HardReset(port, uses_usb=o.usb_jtag)()
            finally:
                port.close()
        self._call(work, o.reset_timeout_s, f"esptool hard reset on {o.port}")
        return FlashResult(self.name, "reset", ["esptool.reset.HardReset", o.port], time.monotonic() - t0)

    @staticmethod
    def _call(work: Any, timeout_s: float, what: str) -> Any:
        fatal = _esptool().util.FatalError
        try:
            return call_with_timeout(work, timeout_s, what)
        except fatal as exc:
            raise FlashError(f"{what}: {str(exc).strip().splitlines()[0]}") from None
        except OSError as exc:
            raise FlashError(f"{what}: {exc}") from None
