"""What the reference devices print on their UART, byte for byte as the real RTOS does, per board.

``zephyr`` (nrf52840dk): the shell with VT100 colours on (``ESC[1;32m`` prompt, ``ESC[1;31m``
errors; subsys/shell), log lines from subsys/logging/log_output.c (``[hh:mm:ss.mmm,uuu] `` then the
level colour, ``<err> module: msg``, ``ESC[0m``) erased and redrawn around the prompt by the shell's
log backend (``ESC[<n>D ESC[J`` ... prompt), the nRF Connect SDK banners, the Cortex-M fault dump and
kernel/fatal.c's ``>>> ZEPHYR FATAL ERROR``, ``hwinfo reset_cause``. ``esp-idf`` (esp32s3): the
ROM's reset lines (``rst:0xc (RTC_SW_CPU_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)``), the bootloader and
app_init lines, esp_log's ``ESC[0;32mI (245) tag: msg ESC[0m``, the panic handler's Guru Meditation
dump and the esp_console REPL (``esp32s3> ``, ``Unrecognized command``).
"""

from __future__ import annotations

from typing import Any

COLOR_OFF = "\x1b[m"  # shell_vt100.h SHELL_VT100_MODESOFF
LOG_COLOR_DEFAULT = "\x1b[0m"


def uptime_stamp(uptime_s: float) -> str:
    us = int(round(uptime_s * 1e6))
    h, rem = divmod(us, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    s, rem = divmod(rem, 1_000_000)
    return f"[{h:02d}:{m:02d}:{s:02d}.{rem // 1000:03d},{rem % 1000:03d}]"


class ZephyrFormat:
    name = "zephyr"
    redraw = True  # the shell log backend erases the prompt, prints the line, redraws prompt and command
    reboot_command = "kernel reboot cold"
    LEVEL_COLORS = {"err": "\x1b[1;31m", "wrn": "\x1b[1;33m"}  # info and debug: LOG_COLOR_CODE_DEFAULT
    RESET_CAUSES = {"POWER_ON": "power-on reset", "SOFTWARE": "software", "WATCHDOG": "watchdog",
                    "CPU_LOCKUP": "cpu lockup", "BROWNOUT": "brownout", "PIN": "pin"}

    def __init__(self, prompt: str = "uart:~$ ", colors: bool = True) -> None:
        self.prompt = prompt
        self.colors = colors

    def prompt_bytes(self) -> bytes:
        return (f"\x1b[1;32m{self.prompt}{COLOR_OFF}" if self.colors else self.prompt).encode()

    def erase(self, columns: int) -> bytes:
        """z_shell_cmd_line_erase: cursor back over prompt and command, clear to end of screen."""
        return (f"\x1b[{columns}D" if columns else "").encode() + b"\x1b[J"

    def log_line(self, uptime_s: float, level: str, module: str, message: str) -> str:
        if not self.colors:
            return f"{uptime_stamp(uptime_s)} <{level}> {module}: {message}"
        color = self.LEVEL_COLORS.get(level, LOG_COLOR_DEFAULT)
        return f"{uptime_stamp(uptime_s)} {color}<{level}> {module}: {message}{LOG_COLOR_DEFAULT}"

    def error(self, text: str) -> bytes:
        """shell_error(): red text, then the colour switched back off (after the newline)."""
        if not self.colors:
            return f"{text}\r\n".encode()
        return f"\x1b[1;31m{text}\r\n{COLOR_OFF}".encode()

    def not_found(self, command: str) -> bytes:
        return self.error(f"{command}: command not found")

    def boot_lines(self, profile: Any, reset_reason: str) -> list[str]:
        banner = profile.board.sdk_banner
        lines = [banner]
        if "nRF Connect SDK" in banner:  # NCS prints the Zephyr version it is built on next
            lines.append("*** Using Zephyr OS v3.5.99-ncs1 ***")
        return lines

    def fatal(self, reason: str, thread: str) -> list[tuple[str, str]]:
        """(``raw`` | ``log``, text): arch/arm/core/cortex_m/fault.c's dump, then kernel/fatal.c."""
        return [("log", text) for text in (
            f"***** {reason} *****", "  Data Access Violation", "  MMFAR Address: 0x0",
            "r0/a1:  0x00000000  r1/a2:  0x20003a10  r2/a3:  0x00000004",
            "r3/a4:  0x00000000 r12/ip:  0x00000000 r14/lr:  0x0002c5e1",
            " xpsr:  0x61000000", "Faulting instruction address (r15/pc): 0x0002c5f4",
            ">>> ZEPHYR FATAL ERROR 19: Unknown error on CPU 0",
            f"Current thread: 0x20001c48 ({thread})", "Resetting system")]

    def reset_cause(self, reset_reason: str | None) -> str:
        """drivers/hwinfo/hwinfo_shell.c's answer to ``hwinfo reset_cause``."""
        if not reset_reason:
            return "No reset cause set"
        return "reset caused by:\n- " + self.RESET_CAUSES.get(reset_reason, reset_reason.lower())


class EspIdfFormat:
    name = "esp-idf"
    redraw = False  # linenoise does not redraw around esp_log output
    reboot_command = "restart"
    LEVELS = {"err": "E", "wrn": "W", "inf": "I", "dbg": "D"}
    LEVEL_COLORS = {"E": "\x1b[0;31m", "W": "\x1b[0;33m", "I": "\x1b[0;32m", "D": "", "V": ""}
    # ROM reset reasons (components/soc/esp32s3/include/soc/reset_reasons.h, spelled as the ROM prints them)
    ROM_RESETS = {"POWER_ON": (0x1, "POWERON"), "SOFTWARE": (0xC, "RTC_SW_CPU_RST"),
                  "CPU_LOCKUP": (0xC, "RTC_SW_CPU_RST"), "PANIC": (0xC, "RTC_SW_CPU_RST"),
                  "WATCHDOG": (0x7, "TG0WDT_SYS_RST"), "BROWNOUT": (0xF, "RTCWDT_BROWN_OUT_RST"),
                  "PIN": (0x15, "USB_UART_CHIP_RESET")}
    EXCEPTIONS = {"MPU FAULT": "LoadProhibited", "BUS FAULT": "StoreProhibited", "USAGE FAULT": "IllegalInstruction"}

    def __init__(self, prompt: str = "esp32s3> ", colors: bool = True) -> None:
        self.prompt = prompt
        self.colors = colors

    def prompt_bytes(self) -> bytes:
        """esp_console_new_repl_uart: LOG_COLOR_I prompt LOG_RESET_COLOR."""
        return (f"\x1b[0;32m{self.prompt}\x1b[0m" if self.colors else self.prompt).encode()

    def erase(self, columns: int) -> bytes:
        return b""

    def log_line(self, uptime_s: float, level: str, module: str, message: str) -> str:
        return self._log(self.LEVELS.get(level, "I"), int(uptime_s * 1000), module, message)

    def _log(self, letter: str, ms: int, tag: str, message: str) -> str:
        """components/log LOG_FORMAT: colour, letter, (ms), tag, message, reset colour."""
        if not self.colors:
            return f"{letter} ({ms}) {tag}: {message}"
        return f"{self.LEVEL_COLORS[letter]}{letter} ({ms}) {tag}: {message}\x1b[0m"

    def error(self, text: str) -> bytes:
        return f"{text}\r\n".encode()

    def not_found(self, command: str) -> bytes:
        return b"Unrecognized command\r\n"  # esp_console REPL

    def boot_lines(self, profile: Any, reset_reason: str) -> list[str]:
        code, name = self.ROM_RESETS.get(reset_reason, (0xC, "RTC_SW_CPU_RST"))
        lines = ["ESP-ROM:esp32s3-20210327", "Build:Mar 27 2021",
                 f"rst:0x{code:x} ({name}),boot:0x8 (SPI_FAST_FLASH_BOOT)"]
        if name != "POWERON":
            lines.append("Saved PC:0x40375a1c")
        lines += ["SPIWP:0xee", "mode:DIO, clock div:1", "load:0x3fce3818,len:0x16f8", "load:0x403c9700,len:0x4",
                  "load:0x403c9704,len:0xc00", "load:0x403cc700,len:0x2eb0", "entry 0x403c9908"]
        sdk = profile.board.sdk_banner  # "ESP-IDF v5.1.2"
        version = sdk.split()[-1]
        lines += [self._log("I", ms, tag, msg) for ms, tag, msg in (
            (27, "boot", f"{sdk} 2nd stage bootloader"), (27, "boot", "compile time Nov 30 2026 10:00:00"),
            (28, "boot", "Multicore bootloader"), (31, "boot", "chip revision: v0.2"),
            (45, "boot", "Loaded app from partition at offset 0x10000"), (46, "boot", "Disabling RNG early entropy source..."),
            (245, "cpu_start", "Multicore app"), (254, "cpu_start", "Pro cpu start user code"),
            (254, "cpu_start", "cpu freq: 160000000 Hz"), (255, "app_init", "Application information:"),
            (255, "app_init", "Project name:     glasses"),
            (256, "app_init", f"App version:      {profile.firmware_version}"),
            (257, "app_init", f"ESP-IDF:          {version}"), (280, "main_task", "Started on CPU0"),
            (290, "main_task", "Calling app_main()"))]
        return lines

    def fatal(self, reason: str, thread: str) -> list[tuple[str, str]]:
        """components/esp_system panic handler output (raw lines, not esp_log)."""
        exc = self.EXCEPTIONS.get(reason, "IntegerDivideByZero" if "division" in reason else "LoadProhibited")
        return [("raw", text) for text in (
            f"Guru Meditation Error: Core  0 panic'ed ({exc}). Exception was unhandled.", "",
            "Core  0 register dump:",
            "PC      : 0x42008f2a  PS      : 0x00060930  A0      : 0x82009d2e  A1      : 0x3fc9a6f0  ",
            "A2      : 0x00000000  A3      : 0x3fc9a72c  A4      : 0x00000004  A5      : 0x3fc9a710  ",
            "EXCVADDR: 0x00000000  LBEG    : 0x40056f5c  LEND    : 0x40056f72  LCOUNT  : 0xffffffff  ", "",
            "Backtrace: 0x42008f27:0x3fc9a6f0 0x42009d2b:0x3fc9a710 0x4037a8d1:0x3fc9a740", "", "",
            "ELF file SHA256: 3b7c3a1c8e0f7d6e", "", "Rebooting...")]

    def reset_cause(self, reset_reason: str | None) -> str:
        return ""  # ESP-IDF has no such command: the ROM line names the reason


def for_board(console: str) -> ZephyrFormat | EspIdfFormat:
    """The reference console format of a board's ``console:`` (fixtures/boards/*.yaml)."""
    return EspIdfFormat() if console == "esp-idf" else ZephyrFormat()
